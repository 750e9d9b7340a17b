// f16 / bf16 <-> f32 row conversion for the KV cache. The f16 rows are the
// kernels' vec.hpp helpers (F16C/AVX-512 when the dispatcher allows it); bf16
// is a shift, portable.
#pragma once

#include "kernels/vec.hpp"

#include <cstdint>

namespace skulk::cpu {

void f32_to_bf16_row(const float *x, uint16_t *y, int64_t n);
void bf16_to_f32_row(const uint16_t *x, float *y, int64_t n);

} // namespace skulk::cpu
