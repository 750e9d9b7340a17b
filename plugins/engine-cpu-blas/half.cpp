#include "half.hpp"

#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace skulk::cpu {

namespace {

// IEEE binary16, round to nearest even (portable fallback).
uint16_t f32_to_f16_scalar(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    const uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t mant = x & 0x7fffffu;
    const int32_t exp = static_cast<int32_t>((x >> 23) & 0xff);
    if (exp == 0xff) return static_cast<uint16_t>(sign | 0x7c00u | (mant ? 0x200u : 0)); // inf/nan
    int32_t e = exp - 127 + 15;
    if (e >= 0x1f) return static_cast<uint16_t>(sign | 0x7c00u); // overflow -> inf
    if (e <= 0) {                                                  // subnormal or zero
        if (e < -10) return static_cast<uint16_t>(sign);
        mant |= 0x800000u;
        const int shift = 14 - e;
        uint32_t half = mant >> shift;
        const uint32_t rem = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) ++half;
        return static_cast<uint16_t>(sign | half);
    }
    uint32_t half = (static_cast<uint32_t>(e) << 10) | (mant >> 13);
    const uint32_t rem = mant & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (half & 1))) ++half; // may carry into the exponent: correct
    return static_cast<uint16_t>(sign | half);
}

float f16_to_f32_scalar(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ffu, bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { // subnormal: normalise
            int e = -1;
            do { ++e; mant <<= 1; } while (!(mant & 0x400u));
            bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (mant & 0x3ffu) << 13;
        }
    } else if (exp == 0x1f) {
        bits = sign | 0x7f800000u | mant << 13;
    } else {
        bits = sign | (exp - 15 + 127) << 23 | mant << 13;
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

#if defined(__x86_64__)
__attribute__((target("avx,f16c"))) void f32_to_f16_f16c(const float *x, uint16_t *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128(reinterpret_cast<__m128i *>(y + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; ++i) y[i] = f32_to_f16_scalar(x[i]);
}
__attribute__((target("avx,f16c"))) void f16_to_f32_f16c(const uint16_t *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(x + i))));
    for (; i < n; ++i) y[i] = f16_to_f32_scalar(x[i]);
}
const bool has_f16c = __builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx");
#else
const bool has_f16c = false;
#endif

} // namespace

void f32_to_f16_row(const float *x, uint16_t *y, int64_t n) {
#if defined(__x86_64__)
    if (has_f16c) return f32_to_f16_f16c(x, y, n);
#endif
    for (int64_t i = 0; i < n; ++i) y[i] = f32_to_f16_scalar(x[i]);
}

void f16_to_f32_row(const uint16_t *x, float *y, int64_t n) {
#if defined(__x86_64__)
    if (has_f16c) return f16_to_f32_f16c(x, y, n);
#endif
    for (int64_t i = 0; i < n; ++i) y[i] = f16_to_f32_scalar(x[i]);
}

void f32_to_bf16_row(const float *x, uint16_t *y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        uint32_t u;
        std::memcpy(&u, &x[i], 4);
        if ((u & 0x7fffffffu) > 0x7f800000u) { // NaN stays NaN
            y[i] = static_cast<uint16_t>((u >> 16) | 64);
            continue;
        }
        y[i] = static_cast<uint16_t>((u + (0x7fffu + ((u >> 16) & 1))) >> 16);
    }
}

void bf16_to_f32_row(const uint16_t *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        const uint32_t u = static_cast<uint32_t>(x[i]) << 16;
        std::memcpy(&y[i], &u, 4);
    }
}

} // namespace skulk::cpu
