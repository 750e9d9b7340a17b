// Canonical events -> OpenAI wire bytes, one EncodeState per response.
//
// Streaming (SSE): chat.completion.chunk / text_completion chunks, the role
// in the first chunk, finish_reason in the last, an optional usage chunk,
// "data: [DONE]"; ": keep-alive" and ": command_id <id>" comments; an error
// becomes `data: {"error":{...}}` and ends the stream.
// Non-streaming: nothing until done, then one chat.completion /
// text_completion object; an error becomes the error envelope.
#pragma once

#include "canonical_event.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace skulk::openai {

class EncodeState {
public:
    // Encodes one canonical event, appending wire bytes to `out`. Throws
    // skulk::status_error(SKULK_E_INVALID) on an event that is malformed or
    // out of order (a delta before start, anything after done/error).
    void encode(std::string_view event_json, std::string &out);
    bool finished() const { return finished_; }

private:
    void on_start(std::string &out);
    void on_delta(std::string_view event_json, std::string &out);
    // A delta with logprobs (opt-in, so read with a DOM): the chunk, or the
    // entries kept for the whole response.
    void on_logprobs_delta(const nlohmann::json &entries, std::string &out);
    nlohmann::json completion_logprobs(const nlohmann::json &entries);
    void on_done(std::string &out);
    void on_error(std::string &out);
    void stream_chunk_head(std::string &out) const;
    nlohmann::json chunk_object() const;

    CanonicalEvent ev_;           // reused for every event
    std::string error_;
    bool chat_ = true, stream_ = false, include_usage_ = false;
    bool started_ = false, finished_ = false;
    std::string id_, model_;
    int64_t created_ = 0;
    // Precomputed around the delta text so a token costs one append.
    std::string delta_prefix_, delta_suffix_;
    std::string text_;               // non-streaming: the whole answer
    nlohmann::json tool_calls_ = nlohmann::json::array(); // non-streaming
    size_t n_tool_calls_ = 0;        // streaming: next tool-call index
    // Logprobs (docs/canonical-api.md): chat entries as they come, or the
    // legacy completions columns; text_offset counts code points so far.
    bool has_logprobs_ = false;
    nlohmann::json logprobs_content_ = nlohmann::json::array();
    nlohmann::json lp_tokens_ = nlohmann::json::array(), lp_token_logprobs_ = nlohmann::json::array(),
                   lp_top_ = nlohmann::json::array(), lp_offsets_ = nlohmann::json::array();
    int64_t text_offset_ = 0;
};

} // namespace skulk::openai
