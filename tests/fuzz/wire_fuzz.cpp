// libFuzzer target: arbitrary bytes as a cluster wire envelope and as an
// event-log record (both come from the network or the disk). decode must
// answer with ok or an error, never throw or crash; what decodes must encode
// to something that decodes to the same encoding again.
#include "cluster/wire.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    using namespace skulk::cluster;
    const std::string_view bytes(reinterpret_cast<const char *>(data), size);
    const Decoded d = decode(bytes);
    if (d.ok) {
        const std::string once = encode(d.env);
        const Decoded again = decode(once);
        if (!again.ok || encode(again.env) != once) std::abort();
    }
    skulk::state::Event e;
    std::string error;
    if (decode_event(bytes, e, error)) {
        const std::string once = encode_event(e);
        skulk::state::Event e2;
        if (!decode_event(once, e2, error) || encode_event(e2) != once) std::abort();
    }
    return 0;
}
