// Loading the llama.cpp conformance references (shared/conformance/*.json,
// schema refdump-v1) and the models they name: shipped ones from
// shared/models, float synthetic ones regenerated with shared/tools/mkgguf.py
// into the build tree (checked against the sha256 the reference names).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace skulk::test {

struct RefPosition {
    int step = 0, pos = 0;
    int32_t input_token = 0, argmax = 0;
    double top1_margin = 0, mean = 0, std = 0, max = 0, logsumexp = 0;
    std::vector<std::pair<int32_t, float>> top; // 20, by logit
};

struct RefPrompt {
    int index = 0;
    std::vector<int32_t> prompt_tokens;
    std::vector<int32_t> generated; // 32 greedy ids
    std::vector<RefPosition> positions; // steps 0..7
    std::filesystem::path logits_bin;   // empty when not shipped
};

struct Reference {
    std::string stem; // e.g. "llama-synth-v512-Q8_0"
    std::string kind; // "native" | "dequantized-f32"
    std::string model_file, model_sha256, regenerate;
    bool shipped = false;
    int n_vocab = 0;
    std::vector<RefPrompt> prompts;
};

std::filesystem::path shared_dir();
std::filesystem::path build_dir();

Reference load_reference(const std::string &stem);
// Step-0 logits of one prompt (n_vocab floats).
std::vector<float> load_logits(const std::filesystem::path &bin, int n_vocab);
// The model file of a reference: shipped, or regenerated (once, cached in
// <build>/test-models; safe when several test processes race).
std::filesystem::path model_path(const Reference &ref);
std::string sha256_of(const std::filesystem::path &file);

} // namespace skulk::test
