// Model hyper-parameters read from GGUF metadata (`<arch>.*` keys), with
// llama.cpp's defaults where a key is optional.
#pragma once

#include "gguf/gguf.hpp"

#include <skulk/abi.h>

#include <string>

namespace skulk::model {

enum class RopeScaling : uint32_t { none = 0, linear = 1, yarn = 2, llama3 = 3 };

struct ModelParams {
    std::string arch; // "llama", "qwen2", "qwen3"; kept alive for to_abi()
    uint32_t n_layer = 0;
    uint32_t n_embd = 0;
    uint32_t n_head = 0;
    uint32_t n_head_kv = 0;
    uint32_t head_dim_k = 0;
    uint32_t head_dim_v = 0;
    uint32_t n_ff = 0;
    uint32_t n_vocab = 0;
    uint32_t n_ctx_train = 0;
    float rms_eps = 1e-5f;
    uint32_t rope_type = SKULK_ROPE_NORMAL;
    uint32_t n_rot = 0;
    float rope_freq_base = 10000.0f;
    float rope_freq_scale = 1.0f;
    RopeScaling rope_scaling = RopeScaling::none;
    float rope_scaling_factor = 0.0f;
    uint32_t rope_scaling_orig_ctx = 0;
    float rope_yarn_ext_factor = 0.0f;
    float rope_yarn_attn_factor = 1.0f;
    float rope_yarn_beta_fast = 32.0f;
    float rope_yarn_beta_slow = 1.0f;
    float rope_llama3_low_freq_factor = 1.0f;
    float rope_llama3_high_freq_factor = 4.0f;
    bool tied_output = false; // no output.weight: the head reuses token_embd
};

// The architectures read_hparams understands, comma-separated for messages.
const char *supported_architectures();

// Throws GgufError naming the file and the missing/bad key, or the
// unsupported architecture and the supported ones.
ModelParams read_hparams(const GgufFile &file);

// The ABI view; its arch string borrows from `p`, which must outlive it.
skulk_model_params to_abi(const ModelParams &p);

} // namespace skulk::model
