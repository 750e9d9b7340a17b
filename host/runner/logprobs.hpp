// Log probabilities of generated tokens (OpenAI `logprobs` / `top_logprobs`).
//
// logprob = log-softmax of the RAW logits row the engine returned, before
// logit_bias, penalties and temperature: the model's own distribution, as
// OpenAI reports it (docs/canonical-api.md). So a greedy (temperature 0)
// pick is always the top-1 alternative.
//
// The entries are written as JSON text straight into a reused string, in
// the shape of OpenAI chat's `logprobs.content[]` items:
//   {"token":"..","logprob":-0.1,"bytes":[..],"top_logprobs":[{"token","logprob","bytes"}..]}
// Nothing here allocates once the caller's buffers have grown.
#pragma once

#include "tokenizer/vocab.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace skulk::runner {

constexpr int32_t kMaxTopLogprobs = 20;

// Reused per sequence.
struct LogprobScratch {
    std::vector<std::pair<float, int32_t>> top; // (logit, token), best first
    std::string piece;                           // one token's bytes
    LogprobScratch() {
        top.reserve(kMaxTopLogprobs + 1);
        piece.reserve(64);
    }
};

// max + log(sum(exp(x - max))): subtract from a logit to get its logprob.
float log_normaliser(const float *row, int32_t n_vocab);

// The k highest logits, best first (ties: lower token id first).
void top_logits(const float *row, int32_t n_vocab, int32_t k, std::vector<std::pair<float, int32_t>> &top);

// Appends one entry for `token` (with n_top alternatives) to `out`, preceded
// by a comma when `out` is not empty (entries accumulate between deltas).
void append_logprob_entry(const model::Vocab &vocab, const float *row, int32_t n_vocab, int32_t token, int32_t n_top,
                          LogprobScratch &scratch, std::string &out);

} // namespace skulk::runner
