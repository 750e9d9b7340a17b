// f16 / bf16 <-> f32 row conversion for the KV cache. Uses F16C when the CPU
// has it (checked once at run time; the build targets baseline x86-64).
#pragma once

#include <cstdint>

namespace skulk::cpu {

void f32_to_f16_row(const float *x, uint16_t *y, int64_t n);
void f16_to_f32_row(const uint16_t *x, float *y, int64_t n);
void f32_to_bf16_row(const float *x, uint16_t *y, int64_t n);
void bf16_to_f32_row(const uint16_t *x, float *y, int64_t n);

} // namespace skulk::cpu
