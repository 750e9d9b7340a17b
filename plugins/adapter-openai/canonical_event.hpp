// One canonical event (docs/canonical-api.md), read with nlohmann's SAX
// interface into a struct the encoder reuses: a delta event builds no JSON
// DOM (the only allocations left are inside nlohmann's lexer).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace skulk::openai {

struct CanonicalEvent {
    std::string type; // start | delta | keepalive | command_id | done | error
    std::string text; // delta
    std::string id, model, kind; // start (id also for command_id)
    int64_t created = 0;
    bool stream = false, include_usage = false; // start
    std::string finish_reason;                  // done
    bool has_usage = false;
    int64_t prompt_tokens = 0, completion_tokens = 0;
    std::string message;                 // error
    bool retryable = false;
    int64_t status = 0;
    std::string code;                    // error: "" when absent (an integer code as its text)
    std::string param;
    bool has_tool_calls = false;         // delta: tool_calls present (read separately)
    bool has_logprobs = false;           // delta: logprobs present (read separately)

    void clear();
};

// Fills `ev`. Returns false with a reason in `error` on malformed JSON or a
// field of the wrong type.
bool read_canonical_event(std::string_view json_text, CanonicalEvent &ev, std::string &error);

} // namespace skulk::openai
