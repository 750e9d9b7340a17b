// Vector helpers for the engine's attention and glue code, on the same ISA
// the matmul dispatcher chose (SKULK_CPU_ISA applies). f16 is IEEE half as
// stored in a KV cache. n is any length (no block multiple needed).
#pragma once

#include <cstdint>

namespace skulk::cpu {

float dot_f32(const float *a, const float *b, int64_t n);
float dot_f16(const uint16_t *a_f16, const float *b, int64_t n);
// y += a * x
void axpy_f32(float a, const float *x, float *y, int64_t n);
void axpy_f16(float a, const uint16_t *x_f16, float *y, int64_t n);
// y *= a
void scale_f32(float a, float *y, int64_t n);
// gate[i] = silu(gate[i]) * up[i] (SwiGLU), silu(x) = x / (1 + exp(-x)); the
// AVX-512 body uses llama.cpp's vector exp (~1.5 ulp), the others std::exp.
void swiglu_f32(float *gate, const float *up, int64_t n);
// Row conversions (round to nearest even), e.g. writing K/V into an f16 cache.
void f32_to_f16_row(const float *x, uint16_t *y, int64_t n);
void f16_to_f32_row(const uint16_t *x, float *y, int64_t n);

} // namespace skulk::cpu
