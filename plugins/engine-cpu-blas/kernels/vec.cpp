// Each helper has a portable body and AVX2/AVX-512 bodies compiled through
// function target attributes; a table picked once at first use selects them.
#include "vec.hpp"

#include "dispatch.hpp"
#include "quant/fp16.hpp"

#include <cmath>

#include <immintrin.h>

// GCC 12 flags its own intrinsic headers (_mm512_undefined_*) when inlined here.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace skulk::cpu {
namespace {
namespace q = skulk::quant;

struct VecFns {
    float (*dot_f32)(const float *, const float *, int64_t);
    float (*dot_f16)(const uint16_t *, const float *, int64_t);
    void (*axpy_f32)(float, const float *, float *, int64_t);
    void (*axpy_f16)(float, const uint16_t *, float *, int64_t);
    void (*scale_f32)(float, float *, int64_t);
    void (*f32_to_f16)(const float *, uint16_t *, int64_t);
    void (*f16_to_f32)(const uint16_t *, float *, int64_t);
    void (*swiglu)(float *, const float *, int64_t);
};

// ---- portable ----
float dot_f32_c(const float *a, const float *b, int64_t n) {
    float s = 0;
    for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
    return s;
}
float dot_f16_c(const uint16_t *a, const float *b, int64_t n) {
    float s = 0;
    for (int64_t i = 0; i < n; ++i) s += q::fp16_to_f32(a[i]) * b[i];
    return s;
}
void axpy_f32_c(float a, const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}
void axpy_f16_c(float a, const uint16_t *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] += a * q::fp16_to_f32(x[i]);
}
void scale_f32_c(float a, float *y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] *= a;
}
void f32_to_f16_c(const float *x, uint16_t *y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = q::f32_to_fp16(x[i]);
}
void f16_to_f32_c(const uint16_t *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = q::fp16_to_f32(x[i]);
}

void swiglu_c(float *gate, const float *up, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        const float g = gate[i];
        gate[i] = g / (1.0f + std::exp(-g)) * up[i];
    }
}

// ---- AVX2 + FMA + F16C (8 lanes) ----
#define SKULK_AVX2 __attribute__((target("avx2,fma,f16c")))
SKULK_AVX2 float hsum8(__m256 v) {
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
}
SKULK_AVX2 float dot_f32_avx2(const float *a, const float *b, int64_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    float s = hsum8(_mm256_add_ps(s0, s1));
    for (; i < n; ++i) s += a[i] * b[i];
    return s;
}
SKULK_AVX2 float dot_f16_avx2(const uint16_t *a, const float *b, int64_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(a + i))),
                             _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(a + i + 8))),
                             _mm256_loadu_ps(b + i + 8), s1);
    }
    float s = hsum8(_mm256_add_ps(s0, s1));
    for (; i < n; ++i) s += _cvtsh_ss(a[i]) * b[i];
    return s;
}
SKULK_AVX2 void axpy_f32_avx2(float a, const float *x, float *y, int64_t n) {
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; ++i) y[i] += a * x[i];
}
SKULK_AVX2 void axpy_f16_avx2(float a, const uint16_t *x, float *y, int64_t n) {
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(x + i))),
                                                _mm256_loadu_ps(y + i)));
    for (; i < n; ++i) y[i] += a * _cvtsh_ss(x[i]);
}
SKULK_AVX2 void scale_f32_avx2(float a, float *y, int64_t n) {
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(va, _mm256_loadu_ps(y + i)));
    for (; i < n; ++i) y[i] *= a;
}
SKULK_AVX2 void f32_to_f16_avx2(const float *x, uint16_t *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128(reinterpret_cast<__m128i *>(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; ++i) y[i] = q::f32_to_fp16(x[i]);
}
SKULK_AVX2 void f16_to_f32_avx2(const uint16_t *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(x + i))));
    for (; i < n; ++i) y[i] = _cvtsh_ss(x[i]);
}

// ---- AVX-512 (16 lanes, masked tails) ----
#define SKULK_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,fma,f16c")))
SKULK_AVX512 float dot_f32_avx512(const float *a, const float *b, int64_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    }
    for (; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - i)) - 1);
        s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}
SKULK_AVX512 float dot_f16_avx512(const uint16_t *a, const float *b, int64_t n) {
    __m512 s0 = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - i)) - 1);
        const __m512 av = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, a + i));
        s0 = _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(m, b + i), s0);
    }
    return _mm512_reduce_add_ps(s0);
}
SKULK_AVX512 void axpy_f32_avx512(float a, const float *x, float *y, int64_t n) {
    const __m512 va = _mm512_set1_ps(a);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i)));
    }
}
SKULK_AVX512 void axpy_f16_avx512(float a, const uint16_t *x, float *y, int64_t n) {
    const __m512 va = _mm512_set1_ps(a);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - i)) - 1);
        const __m512 xv = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, x + i));
        _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(va, xv, _mm512_maskz_loadu_ps(m, y + i)));
    }
}

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c")
#include "expf_avx512.inc"
void swiglu_avx512(float *gate, const float *up, int64_t n) {
    const __m512 one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - i)) - 1);
        const __m512 g = _mm512_maskz_loadu_ps(m, gate + i);
        const __m512 silu = _mm512_div_ps(g, _mm512_add_ps(one, v_expf(_mm512_sub_ps(zero, g))));
        _mm512_mask_storeu_ps(gate + i, m, _mm512_mul_ps(silu, _mm512_maskz_loadu_ps(m, up + i)));
    }
}
#pragma GCC pop_options

const VecFns &fns() {
    static const VecFns f = [] {
        switch (detail::active_isa()) {
        case Isa::avx512vnni:
            return VecFns{dot_f32_avx512, dot_f16_avx512, axpy_f32_avx512, axpy_f16_avx512, scale_f32_avx2,
                          f32_to_f16_avx2, f16_to_f32_avx2, swiglu_avx512};
        case Isa::avx2:
            return VecFns{dot_f32_avx2, dot_f16_avx2, axpy_f32_avx2, axpy_f16_avx2, scale_f32_avx2, f32_to_f16_avx2,
                          f16_to_f32_avx2, swiglu_c};
        case Isa::scalar: break;
        }
        return VecFns{dot_f32_c, dot_f16_c, axpy_f32_c, axpy_f16_c, scale_f32_c, f32_to_f16_c, f16_to_f32_c, swiglu_c};
    }();
    return f;
}

} // namespace

float dot_f32(const float *a, const float *b, int64_t n) { return fns().dot_f32(a, b, n); }
float dot_f16(const uint16_t *a, const float *b, int64_t n) { return fns().dot_f16(a, b, n); }
void axpy_f32(float a, const float *x, float *y, int64_t n) { fns().axpy_f32(a, x, y, n); }
void axpy_f16(float a, const uint16_t *x, float *y, int64_t n) { fns().axpy_f16(a, x, y, n); }
void scale_f32(float a, float *y, int64_t n) { fns().scale_f32(a, y, n); }
void f32_to_f16_row(const float *x, uint16_t *y, int64_t n) { fns().f32_to_f16(x, y, n); }
void f16_to_f32_row(const uint16_t *x, float *y, int64_t n) { fns().f16_to_f32(x, y, n); }
void swiglu_f32(float *gate, const float *up, int64_t n) { fns().swiglu(gate, up, n); }

} // namespace skulk::cpu
