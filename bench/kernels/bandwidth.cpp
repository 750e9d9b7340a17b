#include "bandwidth.hpp"

#include "thread_team.hpp"

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include <sys/mman.h>

namespace skulk::bench {
namespace {

// Wide loads with enough independent accumulators that the load ports, not
// the adds, are the limit; chosen at run time like the kernels.
__attribute__((target("avx512f"))) uint64_t sum_avx512(const uint8_t *p, size_t n) {
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i + 256 <= n; i += 256) {
        a0 = _mm512_add_epi64(a0, _mm512_load_si512(p + i));
        a1 = _mm512_add_epi64(a1, _mm512_load_si512(p + i + 64));
        a2 = _mm512_add_epi64(a2, _mm512_load_si512(p + i + 128));
        a3 = _mm512_add_epi64(a3, _mm512_load_si512(p + i + 192));
    }
    return static_cast<uint64_t>(_mm512_reduce_add_epi64(_mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3))));
}

__attribute__((target("avx2"))) uint64_t sum_avx2(const uint8_t *p, size_t n) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i + 128 <= n; i += 128) {
        a0 = _mm256_add_epi64(a0, _mm256_load_si256(reinterpret_cast<const __m256i *>(p + i)));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256(reinterpret_cast<const __m256i *>(p + i + 32)));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256(reinterpret_cast<const __m256i *>(p + i + 64)));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256(reinterpret_cast<const __m256i *>(p + i + 96)));
    }
    alignas(32) uint64_t s[4];
    _mm256_store_si256(reinterpret_cast<__m256i *>(s), _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3)));
    return s[0] + s[1] + s[2] + s[3];
}

uint64_t sum_plain(const uint8_t *p, size_t n) {
    uint64_t s = 0;
    for (size_t i = 0; i + 8 <= n; i += 8) {
        uint64_t v;
        std::memcpy(&v, p + i, 8);
        s += v;
    }
    return s;
}

uint64_t sum_best(const uint8_t *p, size_t n) {
    if (__builtin_cpu_supports("avx512f")) return sum_avx512(p, n);
    if (__builtin_cpu_supports("avx2")) return sum_avx2(p, n);
    return sum_plain(p, n);
}

} // namespace

double read_bandwidth_gbs(size_t bytes, int threads, int reps) {
    bytes = bytes / (256 * static_cast<size_t>(threads)) * 256 * static_cast<size_t>(threads);
    // 2 MiB pages, as the engine streams its weights and KV from: on 4 KiB
    // pages the probe measures the TLB (nested page walks in a VM), not DRAM,
    // and reads ~15% low.
    constexpr size_t huge = size_t(2) << 20;
    const size_t alloc = (bytes + huge - 1) / huge * huge;
    auto *buf = static_cast<uint8_t *>(std::aligned_alloc(huge, alloc));
    if (!buf) throw std::bad_alloc();
    madvise(buf, alloc, MADV_HUGEPAGE);
    for (size_t i = 0; i < bytes; i += 64) std::memset(buf + i, static_cast<int>(i >> 6), 64); // fault in
    ThreadTeam team(threads);
    const size_t part = bytes / static_cast<size_t>(threads);
    volatile uint64_t sink = 0;
    double best = 0;
    for (int r = 0; r < reps; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        team.run([&](int i) { sink = sink + sum_best(buf + part * static_cast<size_t>(i), part); });
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        best = std::max(best, static_cast<double>(bytes) / s / 1e9);
    }
    std::free(buf);
    return best;
}

} // namespace skulk::bench
