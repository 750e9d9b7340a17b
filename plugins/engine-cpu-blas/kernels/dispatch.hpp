// Internal: how matmul.cpp reaches the per-ISA kernels, and the hooks the
// tests use to run every ISA level in one process.
#pragma once

#include "activations.hpp"
#include "matmul.hpp"

#include <memory>

namespace skulk::cpu::detail {

Isa detected_isa();        // the best level this CPU (and OS) supports
Isa active_isa();          // detected_isa() lowered by SKULK_CPU_ISA
const char *isa_label(Isa isa);
bool isa_available(Isa isa); // isa <= detected_isa()

// pack_matrix for a given level (tests); throws if the CPU lacks it.
std::unique_ptr<PackedMatrix> pack_matrix_for(Isa isa, uint32_t gguf_type, const void *data, int64_t rows,
                                              int64_t cols);

// The kernel of one level over rows [r0, r1), all n_tokens.
using MatmulFn = void (*)(const PackedMatrix &w, const ActLayout &l, const void *qx, int n_tokens, float *y,
                          int64_t ldy, int64_t r0, int64_t r1);
void matmul_scalar(const PackedMatrix &w, const ActLayout &l, const void *qx, int n_tokens, float *y, int64_t ldy,
                   int64_t r0, int64_t r1);
void matmul_avx2(const PackedMatrix &w, const ActLayout &l, const void *qx, int n_tokens, float *y, int64_t ldy,
                 int64_t r0, int64_t r1);
void matmul_avx512(const PackedMatrix &w, const ActLayout &l, const void *qx, int n_tokens, float *y, int64_t ldy,
                   int64_t r0, int64_t r1);

// Activation quantization bodies (same results as the portable code).
void quantize_q8_32_avx512(const float *x, int64_t nb, int8_t *qs, float *d, int32_t *sum);
void quantize_q8_k_avx512(const float *x, int64_t nb, int8_t *qs, float *d, int16_t *bsums, int16_t *sums32);
// quantize_activations on a given level (tests compare levels).
void quantize_activations_for(Isa isa, uint32_t gguf_type, const float *x, int64_t cols, int n_tokens, void *qx);

} // namespace skulk::cpu::detail
