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
    static constexpr int kTokensK = 8;
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

// Activation quantization, bit-identical to the scalar code in
// activations.cpp (same float operations; roundf's ties-away-from-zero done
// by hand; Q8_K's nearest_int is round-to-nearest-even like VCVTPS2DQ).
void quantize_q8_32_avx512(const float *x, int64_t nb, int8_t *qs, float *d, int32_t *sum) {
    const __m512 sign = _mm512_set1_ps(-0.0f);
    for (int64_t b = 0; b < nb; ++b) {
        const float *xb = x + 32 * b;
        const __m512 v0 = _mm512_loadu_ps(xb), v1 = _mm512_loadu_ps(xb + 16);
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_andnot_ps(sign, v0), _mm512_andnot_ps(sign, v1)));
        const float db = amax / 127.0f;
        const float id = db != 0.0f ? 1.0f / db : 0.0f;
        const __m512 vid = _mm512_set1_ps(id);
        __m512i s = _mm512_setzero_si512();
        for (int h = 0; h < 2; ++h) {
            const __m512 p = _mm512_mul_ps(h ? v1 : v0, vid);
            const __m512 t = _mm512_roundscale_ps(p, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
            const __m512 frac = _mm512_andnot_ps(sign, _mm512_sub_ps(p, t));
            const __mmask16 up = _mm512_cmp_ps_mask(frac, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
            const __m512 one = _mm512_or_ps(_mm512_set1_ps(1.0f), _mm512_and_ps(p, sign));
            const __m512i q = _mm512_cvttps_epi32(_mm512_mask_add_ps(t, up, t, one));
            _mm_storeu_si128(reinterpret_cast<__m128i *>(qs + 32 * b + 16 * h), _mm512_cvtepi32_epi8(q));
            s = _mm512_add_epi32(s, q);
        }
        d[b] = skulk::quant::round_fp16(db);
        sum[b] = _mm512_reduce_add_epi32(s);
    }
}

void quantize_q8_k_avx512(const float *x, int64_t nb, int8_t *qs, float *d, int16_t *bsums, int16_t *sums32) {
    const __m512 sign = _mm512_set1_ps(-0.0f);
    for (int64_t b = 0; b < nb; ++b) {
        const float *xb = x + 256 * b;
        __m512 m = _mm512_setzero_ps();
        for (int i = 0; i < 16; ++i) m = _mm512_max_ps(m, _mm512_andnot_ps(sign, _mm512_loadu_ps(xb + 16 * i)));
        const float amax = _mm512_reduce_max_ps(m);
        if (amax == 0.0f) { // NaN-free input assumed, as in ggml
            __builtin_memset(qs + 256 * b, 0, 256);
            d[b] = 0.0f;
            for (int j = 0; j < 16; ++j) bsums[16 * b + j] = 0;
            for (int j = 0; j < 8; ++j) sums32[8 * b + j] = 0;
            continue;
        }
        float max = 0.0f; // the first element of largest magnitude, with its sign
        for (int i = 0; i < 16; ++i) {
            const __m512 v = _mm512_loadu_ps(xb + 16 * i);
            const __mmask16 hit = _mm512_cmp_ps_mask(_mm512_andnot_ps(sign, v), _mm512_set1_ps(amax), _CMP_EQ_OQ);
            if (hit) {
                max = xb[16 * i + __builtin_ctz(hit)];
                break;
            }
        }
        const float iscale = -127.f / max;
        const __m512 vs = _mm512_set1_ps(iscale);
        for (int i = 0; i < 16; ++i) {
            __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(vs, _mm512_loadu_ps(xb + 16 * i)));
            q = _mm512_min_epi32(q, _mm512_set1_epi32(127));
            _mm_storeu_si128(reinterpret_cast<__m128i *>(qs + 256 * b + 16 * i), _mm512_cvtepi32_epi8(q));
            bsums[16 * b + i] = static_cast<int16_t>(_mm512_reduce_add_epi32(q));
        }
        for (int j = 0; j < 8; ++j)
            sums32[8 * b + j] = static_cast<int16_t>(bsums[16 * b + 2 * j] + bsums[16 * b + 2 * j + 1]);
        d[b] = 1 / iscale;
    }
}

void matmul_avx512(const PackedMatrix &w, const ActLayout &l, const void *qx, int n_tokens, float *y, int64_t ldy,
                   int64_t r0, int64_t r1) {
    run_matmul<V512>(w, l, qx, n_tokens, y, ldy, r0, r1);
}

} // namespace skulk::cpu::detail

#pragma GCC pop_options
