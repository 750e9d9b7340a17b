// The weights of one layer range, taken from the host's tensor descriptors:
// matrices are prepared once through the kernel interface (pack_matrix, which
// may repack or borrow the host mapping), vectors (norms, biases) are
// converted to f32 copies. Every missing or mis-shaped tensor is an error
// that names the tensor.
#pragma once

#include "kernels/matmul.hpp"

#include <skulk/abi.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace skulk::cpu {

struct Hyper {
    std::string arch;
    int n_layer = 0, n_embd = 0, n_head = 0, n_head_kv = 0;
    int head_dim_k = 0, head_dim_v = 0, n_ff = 0, n_vocab = 0;
    float rms_eps = 1e-5f;
    int q_dim() const { return n_head * head_dim_k; }
    int k_dim() const { return n_head_kv * head_dim_k; }
    int v_dim() const { return n_head_kv * head_dim_v; }
    int attn_out_dim() const { return n_head * head_dim_v; }
};

struct LayerWeights {
    std::vector<float> attn_norm, ffn_norm;
    std::vector<float> bq, bk, bv;         // qwen2 (optional elsewhere)
    std::vector<float> q_norm, k_norm;     // qwen3 (per head_dim)
    std::unique_ptr<PackedMatrix> wq, wk, wv, wo, w_gate, w_up, w_down;
};

struct Weights {
    // EMBED: the embedding table, read one row at a time (dequantize_row).
    const skulk_tensor *token_embd = nullptr;
    // HEAD
    std::vector<float> output_norm;
    std::unique_ptr<PackedMatrix> output;
    // per-pair rope frequency divisors from a rope_freqs tensor (empty: none)
    std::vector<float> rope_freqs;
    std::vector<LayerWeights> layers; // local: layers[i] is global layer first + i
    uint64_t bytes = 0;               // tensor bytes the instance uses
};

Weights load_weights(const Hyper &h, uint32_t first, uint32_t last, uint32_t range_flags,
                     std::span<const skulk_tensor> tensors);

} // namespace skulk::cpu
