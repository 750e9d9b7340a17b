// Scalar reference quantize/dequantize for the GGUF types, bit-compatible
// with ggml's quantize_row_*_ref / dequantize_row_* (llama.cpp b4748), so a
// file we write holds the same bytes llama-quantize would (without imatrix).
#pragma once

#include <cstdint>
#include <stdexcept>

namespace skulk::quant {

// Thrown for a type we cannot (de)quantize or an n that is not a whole
// number of blocks; the message names the type and n.
struct quant_error : std::invalid_argument {
    using std::invalid_argument::invalid_argument;
};

// Types quantize_row/dequantize_row accept: F32, F16, BF16, Q4_0, Q4_1, Q5_0,
// Q5_1, Q8_0, Q8_1, Q4_K, Q5_K, Q6_K, Q8_K (Q8_1/Q8_K are the activation
// formats; dequantize is not defined for them in ggml but is here).
bool has_reference(uint32_t type);

// n elements of x -> n/block_elems blocks at y.
void quantize_row(uint32_t type, const float *x, void *y, int64_t n);
// n elements decoded from the blocks at x.
void dequantize_row(uint32_t type, const void *x, float *y, int64_t n);

} // namespace skulk::quant
