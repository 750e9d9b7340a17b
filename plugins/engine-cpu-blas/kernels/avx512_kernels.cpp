// AVX-512 (F/BW/VL) + VNNI level: VPDPBUSD on 16-row panels, 8 tokens per
// register block for the legacy formats, 4 for the K-quants.
// Every function defined below the pragma is compiled for AVX-512; headers are
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
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512vnni,avx512dq,avx2,fma,f16c,bmi2")

namespace skulk::cpu::detail {
namespace {

struct V512 {
    using I = __m512i;
    using F = __m512;
    static constexpr int kTokens = 8;
    static constexpr int kTokensK = 4;
    static constexpr bool kQ8Offset = true; // codes are q^0x80: the kernel subtracts 128*sum
    static I izero() { return _mm512_setzero_si512(); }
    static I ibcast(int32_t v) { return _mm512_set1_epi32(v); }
    static I load64(const uint8_t *p) { return _mm512_loadu_si512(p); }
    static I lo(I v) { return _mm512_and_si512(v, _mm512_set1_epi8(0x0F)); }
    static I hi(I v) { return _mm512_and_si512(_mm512_srli_epi16(v, 4), _mm512_set1_epi8(0x0F)); }
    static I add_bits(I v, uint64_t mask, int8_t add) {
        return _mm512_mask_add_epi8(v, _cvtu64_mask64(mask), v, _mm512_set1_epi8(add));
    }
    static I dot(I acc, I w, int32_t a4) { return _mm512_dpbusd_epi32(acc, w, _mm512_set1_epi32(a4)); }
    static I dot_q8(I acc, I w, int32_t a4) { return _mm512_dpbusd_epi32(acc, w, _mm512_set1_epi32(a4)); }
    static I iadd(I a, I b) { return _mm512_add_epi32(a, b); }
    static I imul(I a, I b) { return _mm512_mullo_epi32(a, b); }
    static I u8_i32(const uint8_t *p) { return _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p))); }
    static I s8_i32(const uint8_t *p) { return _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p))); }
    static F cvt(I v) { return _mm512_cvtepi32_ps(v); }
    static F f16(const uint8_t *p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(p))); }
    static F fzero() { return _mm512_setzero_ps(); }
    static F fbcast(float v) { return _mm512_set1_ps(v); }
    static F fmul(F a, F b) { return _mm512_mul_ps(a, b); }
    static F fma(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
    static F fnma(F a, F b, F c) { return _mm512_fnmadd_ps(a, b, c); }
    static void store16(float *p, F v) { _mm512_store_ps(p, v); }
    static F fload(const float *p) { return _mm512_loadu_ps(p); }
    static float hsum(F v) { return _mm512_reduce_add_ps(v); }
    template <uint32_t T>
    static F floads(const uint8_t *row, int64_t k) {
        if constexpr (T == skulk::quant::kF32) return _mm512_loadu_ps(reinterpret_cast<const float *>(row) + k);
        const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(row + 2 * k));
        if constexpr (T == skulk::quant::kF16) return _mm512_cvtph_ps(h);
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
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

void matmul_avx512(const PackedMatrix &w, const ActLayout &l, const void *qx, int n_tokens, float *y, int64_t ldy,
                   int64_t r0, int64_t r1) {
    run_matmul<V512>(w, l, qx, n_tokens, y, ldy, r0, r1);
}

} // namespace skulk::cpu::detail

#pragma GCC pop_options
