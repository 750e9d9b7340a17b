// A generate request as the scheduler sees it: the canonical request
// (docs/canonical-api.md) in C++ types, decoded by protocol.cpp, plus the
// commands the IpcServer hands the scheduler.
#pragma once

#include "chat_template/chat_template.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace skulk::runner {

struct GenerateRequest {
    bool chat = false;             // kind "chat": messages; else "completion": prompt
    model::ChatMessages messages;
    std::string prompt;
    std::string tools_json;        // the tools array as JSON text (chat templates)
    std::optional<int32_t> max_tokens;
    std::optional<float> temperature, top_p, min_p, presence_penalty, frequency_penalty, repetition_penalty;
    std::optional<int32_t> top_k;
    std::optional<uint64_t> seed;
    std::vector<std::string> stop;
    std::vector<std::pair<int32_t, float>> logit_bias;
    bool logprobs = false;         // report each token's logprob (runner/logprobs.hpp)
    int32_t top_logprobs = 0;      // 0..20 alternatives per token, with logprobs
};

// What the IpcServer hands the scheduler. `client` is the ROUTER identity
// of the DEALER that sent it (where the events go).
struct Command {
    enum class Op { generate, cancel, client_gone } op = Op::generate;
    std::string client;
    std::string command_id;
    GenerateRequest request; // op generate
};

} // namespace skulk::runner
