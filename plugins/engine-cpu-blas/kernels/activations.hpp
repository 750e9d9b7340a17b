// Where quantize_activations puts things: one record per token, each part
// 64-byte aligned inside the record (internal to the kernels and their tests).
#pragma once

#include <cstddef>
#include <cstdint>

namespace skulk::cpu::detail {

enum class ActKind : uint8_t {
    f32,   // F32/F16/BF16 weights: the f32 input row as is
    q8_32, // Q4_0/Q5_0/Q8_0 (Q8_0 activations) and Q4_1/Q5_1 (Q8_1): per-32 blocks
    q8_k,  // K-quants (Q8_K): per-256 blocks
};

// Per token record:
//  f32:   float x[cols]
//  q8_32: int8 qs[cols]; float d[nb] (the f16-rounded scale, as f32);
//         int32 sum[nb] (sum of the block's qs)
//  q8_k:  int8 qs[cols]; float d[nb]; int16 bsums[nb*16] (per-16 sums);
//         int16 sums32[nb*8] (per-32 sums)
struct ActLayout {
    ActKind kind;
    int64_t cols = 0, nb = 0;
    size_t d_off = 0, sum_off = 0, sum32_off = 0, stride = 0;
};

// Throws std::invalid_argument for a type without a kernel or a cols that is
// not a whole number of blocks.
ActLayout act_layout(uint32_t gguf_type, int64_t cols);

struct ActQ8 { // views of one token's q8_32 record
    const int8_t *qs;
    const float *d;
    const int32_t *sum;
};
struct ActQ8K { // views of one token's q8_k record
    const int8_t *qs;
    const float *d;
    const int16_t *bsums;
    const int16_t *sums32;
};

inline ActQ8 act_q8(const ActLayout &l, const void *qx, int t) {
    auto *b = static_cast<const uint8_t *>(qx) + l.stride * static_cast<size_t>(t);
    return {reinterpret_cast<const int8_t *>(b), reinterpret_cast<const float *>(b + l.d_off),
            reinterpret_cast<const int32_t *>(b + l.sum_off)};
}
inline ActQ8K act_q8k(const ActLayout &l, const void *qx, int t) {
    auto *b = static_cast<const uint8_t *>(qx) + l.stride * static_cast<size_t>(t);
    return {reinterpret_cast<const int8_t *>(b), reinterpret_cast<const float *>(b + l.d_off),
            reinterpret_cast<const int16_t *>(b + l.sum_off), reinterpret_cast<const int16_t *>(b + l.sum32_off)};
}
inline const float *act_f32(const ActLayout &l, const void *qx, int t) {
    return reinterpret_cast<const float *>(static_cast<const uint8_t *>(qx) + l.stride * static_cast<size_t>(t));
}

} // namespace skulk::cpu::detail
