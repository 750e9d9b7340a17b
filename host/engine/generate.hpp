// The simple generation loop over a whole-model ComputeSession (EMBED|HEAD):
// prefill the prompt in batches of n_batch_max, then decode one token per
// forward until n_predict, a stop token, the callback or the context ends.
// Used by skulk-generate and the conformance tests; the runner's continuous
// batching builds on the same session calls.
#pragma once

#include "engine/compute_session.hpp"

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace skulk::engine {

struct GenerationParams {
    int n_predict = 64;
    uint32_t seq_id = 0;
    std::vector<int32_t> stop_tokens;       // end the loop after emitting one (it is kept)
    std::vector<int32_t> logits_at;         // input positions whose full logits to keep
    // Picks the next token from the logits of the last position; empty: greedy.
    std::function<int32_t(std::span<const float> logits)> sample;
    // Called for each generated token; return false to stop.
    std::function<bool(int32_t token)> on_token;
};

struct GenerationResult {
    std::vector<int32_t> tokens; // generated, not including the prompt
    struct Logits {
        int32_t pos;
        std::vector<float> values;
    };
    std::vector<Logits> logits; // for each requested position reached, in position order
    int n_prompt = 0;
    double prefill_seconds = 0, decode_seconds = 0;
    std::string stop_reason; // "length", "stop_token", "callback", "context"
};

GenerationResult generate(ComputeSession &session, std::span<const int32_t> prompt, const GenerationParams &params);

} // namespace skulk::engine
