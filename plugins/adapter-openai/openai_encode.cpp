#include "openai_encode.hpp"

#include <skulk/json_text.hpp>
#include "skulk/plugin.hpp"

namespace skulk::openai {
namespace {

using nlohmann::json;

[[noreturn]] void invalid(const std::string &reason) { throw status_error(SKULK_E_INVALID, reason); }

void sse(std::string &out, const json &obj) {
    out += "data: ";
    out += obj.dump();
    out += "\n\n";
}

bool valid_finish_reason(const std::string &r) {
    return r == "stop" || r == "length" || r == "tool_calls" || r == "content_filter";
}

// The OpenAI error "type" for an HTTP status.
const char *error_type(int64_t status) {
    if (status == 401) return "authentication_error";
    if (status == 403) return "permission_error";
    if (status == 404) return "not_found_error";
    if (status == 429) return "rate_limit_error";
    if (status >= 500) return "server_error";
    return "invalid_request_error";
}

// The envelope's `code` when the event gives none: a string, always, as
// OpenAI's own codes are (clients switch on it).
std::string default_error_code(int64_t status) {
    if (status == 400) return "invalid_request";
    if (status == 404) return "not_found";
    if (status == 408) return "timeout";
    if (status == 409) return "conflict";
    if (status == 413) return "request_too_large";
    if (status == 429) return "rate_limited";
    if (status == 503) return "service_unavailable";
    if (status >= 500) return "internal_error";
    return "http_" + std::to_string(status);
}

// Code points in a UTF-8 string (text_offset counts characters).
int64_t code_points(const std::string &s) {
    int64_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
}

// One canonical logprob entry, checked: {token, logprob, bytes, top_logprobs}.
void check_entry(const json &e, bool top_level) {
    if (!e.is_object() || !e.contains("token") || !e["token"].is_string() || !e.contains("logprob") ||
        !e["logprob"].is_number() || (e.contains("bytes") && !e["bytes"].is_array()))
        invalid("delta event: a logprobs entry needs \"token\" (string), \"logprob\" (number), \"bytes\" (array)");
    if (top_level && (!e.contains("top_logprobs") || !e["top_logprobs"].is_array()))
        invalid("delta event: a logprobs entry needs a \"top_logprobs\" array");
}

} // namespace

json EncodeState::completion_logprobs(const json &entries) {
    // The legacy shape: parallel columns; top_logprobs maps token -> logprob.
    json tokens = json::array(), lps = json::array(), tops = json::array(), offsets = json::array();
    for (const auto &e : entries) {
        tokens.push_back(e["token"]);
        lps.push_back(e["logprob"]);
        json top = json::object();
        for (const auto &t : e["top_logprobs"]) top[t["token"].get<std::string>()] = t["logprob"];
        tops.push_back(std::move(top));
        offsets.push_back(text_offset_);
        text_offset_ += code_points(e["token"].get<std::string>());
    }
    return json{{"tokens", std::move(tokens)}, {"token_logprobs", std::move(lps)}, {"top_logprobs", std::move(tops)},
                {"text_offset", std::move(offsets)}};
}

void EncodeState::on_logprobs_delta(const json &entries, std::string &out) {
    if (!entries.is_array()) invalid("delta event: \"logprobs\" must be an array");
    for (const auto &e : entries) {
        check_entry(e, true);
        for (const auto &t : e["top_logprobs"]) check_entry(t, false);
    }
    has_logprobs_ = true;
    if (!stream_) {
        if (chat_) {
            for (const auto &e : entries) logprobs_content_.push_back(e);
        } else {
            json cols = completion_logprobs(entries);
            for (auto &[k, dst] : {std::pair<const char *, json *>{"tokens", &lp_tokens_}, {"token_logprobs", &lp_token_logprobs_},
                                   {"top_logprobs", &lp_top_}, {"text_offset", &lp_offsets_}})
                for (auto &v : cols[k]) dst->push_back(std::move(v));
        }
        text_ += ev_.text;
        return;
    }
    json chunk = chunk_object();
    json choice = {{"index", 0}};
    if (chat_) choice["delta"] = {{"content", ev_.text}};
    else choice["text"] = ev_.text;
    choice["logprobs"] = chat_ ? json{{"content", entries}, {"refusal", nullptr}} : completion_logprobs(entries);
    choice["finish_reason"] = nullptr;
    chunk["choices"] = json::array({std::move(choice)});
    if (include_usage_) chunk["usage"] = nullptr;
    sse(out, chunk);
}

json EncodeState::chunk_object() const {
    return json{{"id", id_},
                {"object", chat_ ? "chat.completion.chunk" : "text_completion"},
                {"created", created_},
                {"model", model_}};
}

void EncodeState::encode(std::string_view event_json, std::string &out) {
    if (finished_) invalid("canonical event after the end of the response");
    error_.clear();
    if (!read_canonical_event(event_json, ev_, error_)) invalid(error_);
    const std::string &t = ev_.type;
    if (t == "delta") return on_delta(event_json, out);
    if (t == "keepalive") {
        if (stream_) out += ": keep-alive\n\n"; // before start: not yet known, dropped
        return;
    }
    if (t == "command_id") {
        if (ev_.id.empty()) invalid("command_id event without an \"id\"");
        if (stream_) {
            out += ": command_id ";
            out += ev_.id;
            out += "\n\n";
        }
        return;
    }
    if (t == "start") return on_start(out);
    if (t == "done") return on_done(out);
    if (t == "error") return on_error(out);
    invalid("unknown canonical event type \"" + t + "\"");
}

void EncodeState::on_start(std::string &out) {
    if (started_) invalid("a second start event");
    if (ev_.kind != "chat" && ev_.kind != "completion") invalid("start event: \"kind\" must be \"chat\" or \"completion\"");
    if (ev_.id.empty() || ev_.model.empty()) invalid("start event needs \"id\" and \"model\"");
    started_ = true;
    chat_ = ev_.kind == "chat";
    stream_ = ev_.stream;
    include_usage_ = ev_.include_usage;
    id_ = ev_.id;
    model_ = ev_.model;
    created_ = ev_.created;
    if (!stream_) return;
    // The chunk around a delta's text, e.g. for chat:
    //   data: {"id":..,"object":"chat.completion.chunk",..,"choices":[{"index":0,"delta":{"content":<TEXT>},"logprobs":null,"finish_reason":null}]}
    std::string head = chunk_object().dump();
    head.pop_back(); // the closing brace: choices (and usage) follow
    delta_prefix_ = "data: " + head + (chat_ ? R"(,"choices":[{"index":0,"delta":{"content":)" : R"(,"choices":[{"index":0,"text":)");
    delta_suffix_ = chat_ ? R"(},"logprobs":null,"finish_reason":null}])" : R"(,"logprobs":null,"finish_reason":null}])";
    // With include_usage every chunk but the last carries "usage": null.
    if (include_usage_) delta_suffix_ += R"(,"usage":null)";
    delta_suffix_ += "}\n\n";
    if (chat_) {
        json first = chunk_object();
        first["choices"] = json::array({{{"index", 0}, {"delta", {{"role", "assistant"}, {"content", ""}}},
                                         {"logprobs", nullptr}, {"finish_reason", nullptr}}});
        if (include_usage_) first["usage"] = nullptr;
        sse(out, first);
    }
}

void EncodeState::on_delta(std::string_view event_json, std::string &out) {
    if (!started_) invalid("delta event before start");
    if (ev_.has_tool_calls) {
        // Rare (once per call): read the calls with a DOM.
        const json ev = json::parse(event_json);
        const json &calls = ev["tool_calls"];
        if (!calls.is_array()) invalid("delta event: \"tool_calls\" must be an array");
        json wire = json::array();
        for (const auto &c : calls) {
            if (!c.is_object() || !c.contains("name") || !c["name"].is_string())
                invalid("delta event: every tool call needs a \"name\"");
            const std::string id = c.value("id", "call_" + std::to_string(n_tool_calls_));
            const std::string args = c.contains("arguments") && c["arguments"].is_string() ? c["arguments"].get<std::string>()
                                                                                            : std::string("{}");
            json call = {{"id", id}, {"type", "function"}, {"function", {{"name", c["name"]}, {"arguments", args}}}};
            if (stream_) {
                call["index"] = n_tool_calls_;
                wire.push_back(std::move(call));
            } else {
                tool_calls_.push_back(std::move(call));
            }
            ++n_tool_calls_;
        }
        if (stream_ && chat_ && !wire.empty()) {
            json chunk = chunk_object();
            chunk["choices"] = json::array({{{"index", 0}, {"delta", {{"tool_calls", std::move(wire)}}},
                                             {"logprobs", nullptr}, {"finish_reason", nullptr}}});
            if (include_usage_) chunk["usage"] = nullptr;
            sse(out, chunk);
        }
    }
    if (ev_.has_logprobs) return on_logprobs_delta(json::parse(event_json)["logprobs"], out);
    if (ev_.text.empty()) return;
    if (!stream_) {
        text_ += ev_.text;
        return;
    }
    out += delta_prefix_;
    append_json_string(out, ev_.text);
    out += delta_suffix_;
}

void EncodeState::on_done(std::string &out) {
    if (!started_) invalid("done event before start");
    if (!valid_finish_reason(ev_.finish_reason))
        invalid("done event: finish_reason must be stop, length, tool_calls or content_filter, got \"" +
                ev_.finish_reason + "\"");
    finished_ = true;
    const json usage = {{"prompt_tokens", ev_.prompt_tokens},
                        {"completion_tokens", ev_.completion_tokens},
                        {"total_tokens", ev_.prompt_tokens + ev_.completion_tokens}};
    if (stream_) {
        json last = chunk_object();
        json choice = {{"index", 0}};
        if (chat_) choice["delta"] = json::object();
        else choice["text"] = "";
        choice["logprobs"] = nullptr;
        choice["finish_reason"] = ev_.finish_reason;
        last["choices"] = json::array({std::move(choice)});
        if (include_usage_) last["usage"] = nullptr;
        sse(out, last);
        if (include_usage_) {
            json u = chunk_object();
            u["choices"] = json::array();
            u["usage"] = usage;
            sse(out, u);
        }
        out += "data: [DONE]\n\n";
        return;
    }
    json whole = {{"id", id_}, {"object", chat_ ? "chat.completion" : "text_completion"}, {"created", created_},
                  {"model", model_}};
    json choice = {{"index", 0}};
    if (chat_) {
        json message = {{"role", "assistant"}};
        // OpenAI: content is null when the answer is only tool calls.
        message["content"] = text_.empty() && !tool_calls_.empty() ? json(nullptr) : json(text_);
        if (!tool_calls_.empty()) message["tool_calls"] = tool_calls_;
        choice["message"] = std::move(message);
    } else {
        choice["text"] = text_;
    }
    if (!has_logprobs_) choice["logprobs"] = nullptr;
    else if (chat_) choice["logprobs"] = {{"content", std::move(logprobs_content_)}, {"refusal", nullptr}};
    else
        choice["logprobs"] = {{"tokens", std::move(lp_tokens_)}, {"token_logprobs", std::move(lp_token_logprobs_)},
                              {"top_logprobs", std::move(lp_top_)}, {"text_offset", std::move(lp_offsets_)}};
    choice["finish_reason"] = ev_.finish_reason;
    whole["choices"] = json::array({std::move(choice)});
    whole["usage"] = usage;
    out += whole.dump();
}

void EncodeState::on_error(std::string &out) {
    finished_ = true;
    const int64_t status = ev_.status ? ev_.status : 500;
    std::string message = ev_.message.empty() ? std::string("internal error") : ev_.message;
    if (ev_.retryable && message.find("retr") == std::string::npos) message += " The request may be retried.";
    // An integer code in the event is kept as its decimal text.
    const std::string code = ev_.code.empty() ? default_error_code(status) : ev_.code;
    const json envelope = {{"error",
                            {{"message", message},
                             {"type", error_type(status)},
                             {"param", ev_.param.empty() ? json(nullptr) : json(ev_.param)},
                             {"code", code}}}};
    // A stream that has begun ends with an error event; otherwise (not
    // streaming, or failed before start) the host answers with the envelope
    // as a whole JSON body and the event's status.
    if (stream_ && started_) sse(out, envelope);
    else out += envelope.dump();
}

} // namespace skulk::openai
