// Quantized matrix products for the cpu_blas engine: weights prepared once at
// load (pack_matrix), activations quantized once per layer input
// (quantize_activations), then y = W x over any row range, on the best ISA
// this CPU has (AVX-512 VNNI, AVX2+FMA, or portable scalar).
//
// Numerics follow llama.cpp: Q4_0/Q5_0/Q8_0 weights multiply activations
// quantized to Q8_0 (per-32 blocks, d = amax/127 rounded to f16), Q4_1/Q5_1
// to Q8_1, the K-quants to Q8_K (f32 d per 256, per-16 sums). F32/F16/BF16
// weights multiply the f32 activations directly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace skulk::cpu {

enum class Isa : uint8_t { scalar = 0, avx2 = 1, avx512vnni = 2 };

// A weight matrix prepared once at load: rows = ne[1] outputs, cols = ne[0]
// inputs. It either borrows `data` (which must then outlive it) or owns a
// repacked copy; callers should assume it borrows. The fields are the
// kernels' business: use the accessors below.
struct PackedMatrix {
    uint32_t type = 0;
    Isa isa = Isa::scalar;
    int64_t rows = 0, cols = 0;
    const uint8_t *data = nullptr; // ggml rows (borrowed) or panels (owned)
    size_t row_bytes = 0;          // bytes of one ggml row
    size_t panel_bytes = 0;        // bytes of one 16-row panel (0: not repacked)
    uint8_t *owned = nullptr;      // 64-byte aligned allocation when repacked
    size_t owned_size = 0;
    void *slab = nullptr;          // the shared huge-page slab `owned` lies in (pack.cpp), or null

    PackedMatrix() = default;
    PackedMatrix(const PackedMatrix &) = delete;
    PackedMatrix &operator=(const PackedMatrix &) = delete;
    ~PackedMatrix();
};

// Throws std::invalid_argument naming the type and shape when the type has no
// kernel or cols is not a whole number of blocks.
std::unique_ptr<PackedMatrix> pack_matrix(uint32_t gguf_type, const void *data, int64_t rows, int64_t cols);

int64_t rows(const PackedMatrix &w);
int64_t cols(const PackedMatrix &w);
uint32_t type(const PackedMatrix &w);
// Row ranges given to matmul are fastest when r0 and r1 are multiples of this
// (or r1 == rows); any range is correct.
size_t row_align(const PackedMatrix &w);
// Bytes the matrix holds itself (0 when it borrows the caller's data).
size_t owned_bytes(const PackedMatrix &w);

// True when this type has a matmul kernel (F32, F16, BF16, Q4_0, Q4_1, Q5_0,
// Q5_1, Q8_0, Q4_K, Q5_K, Q6_K).
bool supports_type(uint32_t gguf_type);

// Size of the buffer quantize_activations writes for n_tokens rows of `cols`
// f32 inputs, for weights of gguf_type. Give it a 64-byte aligned buffer for
// speed (any alignment is correct). One buffer serves every matrix of the
// same weight type and cols (e.g. Q, K and V).
size_t quantized_activation_bytes(uint32_t gguf_type, int64_t cols, int n_tokens);
// x: n_tokens rows of cols floats, row t at x + t*cols.
void quantize_activations(uint32_t gguf_type, const float *x, int64_t cols, int n_tokens, void *qx);

// y[t*ldy + r] = sum_k W[r][k] * x[t][k] for rows r in [r0, r1), all n_tokens.
// qx comes from quantize_activations for w's type and cols. Thread-safe for
// disjoint row ranges; allocates nothing.
void matmul(const PackedMatrix &w, const void *qx, int n_tokens, float *y, int64_t ldy, int64_t r0,
            int64_t r1);

// One row of a GGUF tensor decoded to f32 (embedding lookup).
void dequantize_row(uint32_t gguf_type, const void *row, float *out, int64_t cols);

// Which ISA the dispatcher chose: "avx512vnni", "avx2" or "scalar". The
// environment variable SKULK_CPU_ISA=scalar|avx2|avx512 forces a lower level
// (never a higher one than the CPU has); read once, at first use.
const char *isa_name();

} // namespace skulk::cpu
