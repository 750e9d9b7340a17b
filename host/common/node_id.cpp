#include "common/node_id.hpp"

#include <cstdio>
#include <random>

namespace skulk {

std::string make_node_id() {
    std::random_device rd;
    std::mt19937_64 gen((uint64_t(rd()) << 32) ^ rd());
    const uint64_t a = gen(), b = gen();
    char buf[40];
    // RFC 4122 layout (version 4, random): 8-4-4-4-12 hex digits.
    std::snprintf(buf, sizeof buf, "%08llx-%04llx-4%03llx-%04llx-%012llx", (unsigned long long)(a >> 32),
                  (unsigned long long)((a >> 16) & 0xffff), (unsigned long long)(a & 0xfff),
                  (unsigned long long)(0x8000 | ((b >> 48) & 0x3fff)), (unsigned long long)(b & 0xffffffffffffULL));
    return buf;
}

} // namespace skulk
