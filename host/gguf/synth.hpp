// Synthetic models: real shapes, a real vocabulary copied from another GGUF
// (every tokenizer.* key), seeded random weights, any supported quant type.
// For engine tests and benchmarks, never for text quality.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace skulk::model {

struct SynthShape {
    uint32_t n_embd = 0, n_layer = 0, n_head = 0, n_head_kv = 0, n_ff = 0;
    uint32_t head_dim = 0; // 0: n_embd / n_head
    uint32_t n_ctx = 2048;
    float rope_theta = 10000.0f;
    float rms_eps = 1e-5f;
    bool tied = false;
    bool qkv_bias = false;
};

struct SynthOptions {
    std::string arch = "llama"; // llama | qwen2 | qwen3
    SynthShape shape;
    std::string type = "F32"; // quant_plan() names
    std::filesystem::path vocab_from;
    uint64_t seed = 1;
    float std = 0.05f;      // matrices
    float embd_std = 0.05f; // token_embd
    std::string name = "synthetic";
};

// The shapes of public models: "smollm2-135m", "qwen2.5-0.5b",
// "tinyllama-1.1b". Throws std::invalid_argument for another name.
SynthShape preset_shape(const std::string &preset);

// Writes the model; throws std::invalid_argument / GgufError with a reason.
void synth_model(const SynthOptions &opts, const std::filesystem::path &out);

} // namespace skulk::model
