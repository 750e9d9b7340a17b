// AVX2 + FMA level (no VNNI): the same panels, 16 rows as two ymm halves;
// u8 x s8 products with VPMADDUBSW + VPMADDWD. Codes up to 63 cannot saturate
// the 16-bit pair sums; Q8_0 uses the sign trick instead (kQ8Offset false).
// Every function defined below the pragma is compiled for AVX2; headers are
// included above it so their inline functions stay portable.
#include "dispatch.hpp"
#include "pack.hpp"
#include "quant/blocks.hpp"
#include "quant/fp16.hpp"

#include <immintrin.h>

#pragma GCC push_options
// GCC 12 flags its own intrinsic headers (_mm512_undefined_*) here.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC target("avx2,fma,f16c,bmi2")

namespace skulk::cpu::detail {
namespace {

struct V256 {
    struct I { __m256i a, b; };
    struct F { __m256 a, b; };
    static constexpr int kTokens = 4;
    static constexpr int kTokensK = 2;
    static constexpr bool kQ8Offset = false;
    static I izero() { return {_mm256_setzero_si256(), _mm256_setzero_si256()}; }
    static I ibcast(int32_t v) { return {_mm256_set1_epi32(v), _mm256_set1_epi32(v)}; }
    static I load64(const uint8_t *p) {
        return {_mm256_loadu_si256(reinterpret_cast<const __m256i *>(p)),
                _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p + 32))};
    }
    static I lo(I v) {
        const __m256i m = _mm256_set1_epi8(0x0F);
        return {_mm256_and_si256(v.a, m), _mm256_and_si256(v.b, m)};
    }
    static I hi(I v) {
        const __m256i m = _mm256_set1_epi8(0x0F);
        return {_mm256_and_si256(_mm256_srli_epi16(v.a, 4), m), _mm256_and_si256(_mm256_srli_epi16(v.b, 4), m)};
    }
    // 32 mask bits -> 32 bytes of 0xFF/0x00 (ggml's bytes_from_bits_32).
    static __m256i bits_to_bytes(uint32_t x) {
        const __m256i shuf = _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101, 0x0202020202020202,
                                                0x0303030303030303);
        __m256i r = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(x)), shuf);
        const __m256i bit = _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe);
        r = _mm256_or_si256(r, bit);
        return _mm256_cmpeq_epi8(r, _mm256_set1_epi64x(-1));
    }
    static I add_bits(I v, uint64_t mask, int8_t add) {
        const __m256i k = _mm256_set1_epi8(add);
        return {_mm256_add_epi8(v.a, _mm256_and_si256(bits_to_bytes(static_cast<uint32_t>(mask)), k)),
                _mm256_add_epi8(v.b, _mm256_and_si256(bits_to_bytes(static_cast<uint32_t>(mask >> 32)), k))};
    }
    static __m256i dot1(__m256i acc, __m256i w, __m256i a) {
        const __m256i p16 = _mm256_maddubs_epi16(w, a);
        return _mm256_add_epi32(acc, _mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
    }
    static I dot(I acc, I w, int32_t a4) {
        const __m256i a = _mm256_set1_epi32(a4);
        return {dot1(acc.a, w.a, a), dot1(acc.b, w.b, a)};
    }
    static __m256i dot1_q8(__m256i acc, __m256i w, __m256i a) {
        const __m256i q = _mm256_xor_si256(w, _mm256_set1_epi8(static_cast<char>(0x80)));
        return dot1(acc, _mm256_sign_epi8(q, q), _mm256_sign_epi8(a, q));
    }
    static I dot_q8(I acc, I w, int32_t a4) {
        const __m256i a = _mm256_set1_epi32(a4);
        return {dot1_q8(acc.a, w.a, a), dot1_q8(acc.b, w.b, a)};
    }
    static I iadd(I x, I y) { return {_mm256_add_epi32(x.a, y.a), _mm256_add_epi32(x.b, y.b)}; }
    static I imul(I x, I y) { return {_mm256_mullo_epi32(x.a, y.a), _mm256_mullo_epi32(x.b, y.b)}; }
    static I u8_i32(const uint8_t *p) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i *>(p));
        return {_mm256_cvtepu8_epi32(v), _mm256_cvtepu8_epi32(_mm_srli_si128(v, 8))};
    }
    static I s8_i32(const uint8_t *p) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i *>(p));
        return {_mm256_cvtepi8_epi32(v), _mm256_cvtepi8_epi32(_mm_srli_si128(v, 8))};
    }
    static F cvt(I v) { return {_mm256_cvtepi32_ps(v.a), _mm256_cvtepi32_ps(v.b)}; }
    static F f16(const uint8_t *p) {
        return {_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p))),
                _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p + 16)))};
    }
    static F fzero() { return {_mm256_setzero_ps(), _mm256_setzero_ps()}; }
    static F fbcast(float v) { return {_mm256_set1_ps(v), _mm256_set1_ps(v)}; }
    static F fmul(F x, F y) { return {_mm256_mul_ps(x.a, y.a), _mm256_mul_ps(x.b, y.b)}; }
    static F fma(F x, F y, F z) { return {_mm256_fmadd_ps(x.a, y.a, z.a), _mm256_fmadd_ps(x.b, y.b, z.b)}; }
    static F fnma(F x, F y, F z) { return {_mm256_fnmadd_ps(x.a, y.a, z.a), _mm256_fnmadd_ps(x.b, y.b, z.b)}; }
    static void store16(float *p, F v) {
        _mm256_store_ps(p, v.a);
        _mm256_store_ps(p + 8, v.b);
    }
    static F fload(const float *p) { return {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
    static float hsum(F v) {
        const __m256 s = _mm256_add_ps(v.a, v.b);
        __m128 x = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
        x = _mm_add_ps(x, _mm_movehl_ps(x, x));
        x = _mm_add_ss(x, _mm_movehdup_ps(x));
        return _mm_cvtss_f32(x);
    }
    static __m256 bf16x8(__m128i h) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)); }
    template <uint32_t T>
    static F floads(const uint8_t *row, int64_t k) {
        if constexpr (T == skulk::quant::kF32) {
            const float *p = reinterpret_cast<const float *>(row) + k;
            return {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)};
        }
        const __m128i h0 = _mm_loadu_si128(reinterpret_cast<const __m128i *>(row + 2 * k));
        const __m128i h1 = _mm_loadu_si128(reinterpret_cast<const __m128i *>(row + 2 * k + 16));
        if constexpr (T == skulk::quant::kF16) return {_mm256_cvtph_ps(h0), _mm256_cvtph_ps(h1)};
        return {bf16x8(h0), bf16x8(h1)};
    }
    template <uint32_t T>
    static float fscalar(const uint8_t *row, int64_t k) {
        if constexpr (T == skulk::quant::kF32) return reinterpret_cast<const float *>(row)[k];
        uint16_t h;
        __builtin_memcpy(&h, row + 2 * k, 2);
        if constexpr (T == skulk::quant::kF16) return _cvtsh_ss(h);
        return skulk::quant::bits_to_f32(static_cast<uint32_t>(h) << 16);
    }
};

#include "simd_kernels.inc"

} // namespace

void matmul_avx2(const PackedMatrix &w, const ActLayout &l, const void *qx, int n_tokens, float *y, int64_t ldy,
                 int64_t r0, int64_t r1) {
    run_matmul<V256>(w, l, qx, n_tokens, y, ldy, r0, r1);
}

} // namespace skulk::cpu::detail

#pragma GCC pop_options
