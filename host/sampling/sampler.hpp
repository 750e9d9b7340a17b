// Token sampling for the generation loop (llama.cpp's default chain):
// logit bias -> repetition/presence/frequency penalties -> top-k -> top-p
// -> min-p -> temperature -> draw. Temperature <= 0 is greedy. Every buffer
// is sized once, so sampling a token allocates nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace skulk::model {

struct SamplingParams {
    float temperature = 0.8f; // <= 0: greedy (argmax after bias and penalties)
    int32_t top_k = 40;       // <= 0: off
    float top_p = 0.95f;      // >= 1: off
    float min_p = 0.05f;      // <= 0: off
    float repeat_penalty = 1.0f;   // 1: off
    int32_t repeat_last_n = 64;    // window the penalties look at
    float presence_penalty = 0.0f;
    float frequency_penalty = 0.0f;
    std::vector<std::pair<int32_t, float>> logit_bias; // -INFINITY bans a token
    std::optional<uint64_t> seed;                      // none: a random seed
    int32_t max_tokens = -1;                           // < 0: no limit
};

// Index of the largest value (the lowest index on ties; NaN never wins; 0 when empty).
int32_t argmax(std::span<const float> v);

// splitmix64-seeded xoshiro256**: the same seed gives the same stream on
// every platform (std:: distributions are not portable).
class Rng {
public:
    explicit Rng(uint64_t seed);
    uint64_t next();
    double uniform(); // [0, 1)
private:
    uint64_t s_[4];
};

class Sampler {
public:
    Sampler(const SamplingParams &params, size_t n_vocab);

    // Picks the next token from n_vocab logits (not modified).
    int32_t sample(const float *logits);
    // Records a token (prompt or generated) for the penalties.
    void accept(int32_t token);
    // Whether `n_generated` tokens use up max_tokens.
    bool exhausted(int32_t n_generated) const {
        return params_.max_tokens >= 0 && n_generated >= params_.max_tokens;
    }
    uint64_t seed() const { return seed_; }

private:
    struct Candidate {
        float logit;
        int32_t id;
    };
    void apply_penalties();
    size_t top_p_cut(size_t n, float max_l);

    SamplingParams params_;
    size_t n_vocab_;
    uint64_t seed_;
    Rng rng_;
    std::vector<Candidate> cand_; // n_vocab, reused
    std::vector<float> work_;     // n_vocab logits after bias/penalties
    std::vector<int32_t> history_; // ring buffer of the last repeat_last_n tokens
    size_t history_pos_ = 0, history_len_ = 0;
    std::vector<int32_t> counts_; // occurrences of each token in the window
    std::vector<double> bin_mass_; // top-p: softmax mass per logit bin
};

// Finds stop strings in streamed text, across token boundaries: text that
// could be the start of a stop string is held back until it is known not
// to be one. Nothing from the stop string on is ever released.
class StopMatcher {
public:
    explicit StopMatcher(std::vector<std::string> stops);
    // Appends the text that is now safe to emit to `out`.
    void push(std::string_view text, std::string &out);
    std::string push(std::string_view text) {
        std::string s;
        push(text, s);
        return s;
    }
    // Generation ended without a stop: release what was held back.
    std::string flush();
    bool stopped() const { return stopped_; }
    const std::string &matched() const { return matched_; }

private:
    std::vector<std::string> stops_;
    std::string pending_;
    bool stopped_ = false;
    std::string matched_;
};

} // namespace skulk::model
