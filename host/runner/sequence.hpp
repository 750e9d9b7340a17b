// One admitted generate request inside the scheduler: its prompt, where it
// stands (waiting for a slot, prefilling, decoding), its sampler, stop-string
// matcher and UTF-8-safe detokenizer, and reused text buffers so that a
// decode step allocates nothing for it.
#pragma once

#include "sampling/sampler.hpp"
#include "tokenizer/vocab.hpp"
#include "runner/logprobs.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace skulk::runner {

struct Sequence {
    enum class State { waiting, prefilling, decoding };

    Sequence(const model::Vocab &vocab, std::vector<std::string> stops) : decoder(vocab), stop(std::move(stops)) {
        piece.reserve(64);
        text.reserve(64);
        event.reserve(256);
    }

    std::string client;     // ROUTER identity of the requesting DEALER
    std::string command_id;
    State state = State::waiting;
    std::vector<int32_t> prompt;
    int32_t n_prompt = 0;
    int32_t max_tokens = -1; // < 0: until a stop or the context is full
    int32_t n_fed = 0;       // positions in the KV slot (their step came back)
    int32_t n_sent = 0;      // positions in steps so far (>= n_fed; more while prompt chunks are in flight)
    int32_t n_generated = 0;
    int32_t next_token = -1; // sampled, fed by the next step
    uint32_t slot = 0;       // KV sequence id while prefilling/decoding
    bool finished = false;
    int32_t in_flight = 0;   // steps with this sequence whose logits have not come back (a pipeline has several)
    std::unique_ptr<model::Sampler> sampler;
    model::StreamDecoder decoder;
    model::StopMatcher stop;
    std::string piece, text, event; // reused per token
    bool logprobs = false;
    int32_t top_logprobs = 0;
    // Logprob entries (JSON text, comma-separated) of tokens whose text has
    // not gone out yet; sent with the next delta. Reused, like scratch.
    std::string logprobs_pending;
    LogprobScratch logprob_scratch;
    std::chrono::steady_clock::time_point last_event;
};

} // namespace skulk::runner
