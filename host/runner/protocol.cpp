#include "runner/protocol.hpp"

#include "runner/logprobs.hpp"

#include <nlohmann/json.hpp>
#include <skulk/json_text.hpp>

#include <cmath>

namespace skulk::runner {

using nlohmann::json;

namespace {

// A field error: the message names the field ("request.max_tokens: ...").
struct FieldError {
    std::string message;
};

[[noreturn]] void fail(const std::string &field, const std::string &why) { throw FieldError{field + ": " + why}; }

const json *member(const json &o, const char *key) {
    auto it = o.find(key);
    if (it == o.end() || it->is_null()) return nullptr;
    return &*it;
}

std::string get_string(const json &o, const char *key, const std::string &path) {
    const json *v = member(o, key);
    if (!v) fail(path + key, "missing");
    if (!v->is_string()) fail(path + key, "must be a string");
    return v->get<std::string>();
}

std::optional<float> get_number(const json &o, const char *key, double lo, double hi) {
    const json *v = member(o, key);
    if (!v) return std::nullopt;
    if (!v->is_number()) fail(std::string("request.") + key, "must be a number");
    const double d = v->get<double>();
    if (!std::isfinite(d) || d < lo || d > hi)
        fail(std::string("request.") + key, "must be between " + json(lo).dump() + " and " + json(hi).dump());
    return static_cast<float>(d);
}

std::optional<int64_t> get_int(const json &o, const char *key, int64_t lo, int64_t hi) {
    const json *v = member(o, key);
    if (!v) return std::nullopt;
    if (!v->is_number_integer()) fail(std::string("request.") + key, "must be an integer");
    const int64_t i = v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)
                          ? INT64_MAX
                          : v->get<int64_t>();
    if (i < lo || i > hi) fail(std::string("request.") + key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
    return i;
}

std::string content_text(const json &c, const std::string &path) {
    if (c.is_string()) return c.get<std::string>();
    if (!c.is_array()) fail(path, "must be a string or an array of parts");
    std::string text;
    for (size_t i = 0; i < c.size(); ++i) {
        const json &part = c[i];
        const std::string p = path + "[" + std::to_string(i) + "]";
        if (!part.is_object()) fail(p, "must be an object");
        const std::string type = get_string(part, "type", p + ".");
        if (type != "text") fail(p + ".type", "'" + type + "' is not supported by this model (text only)");
        text += get_string(part, "text", p + ".");
    }
    return text;
}

model::ChatMessage decode_message(const json &m, const std::string &path) {
    if (!m.is_object()) fail(path, "must be an object");
    model::ChatMessage out;
    out.role = get_string(m, "role", path + ".");
    if (out.role == "developer") out.role = "system"; // templates know system, not developer
    if (const json *c = member(m, "content")) out.content = content_text(*c, path + ".content");
    else out.content_null = true;
    if (const json *n = member(m, "name"); n && n->is_string()) out.name = n->get<std::string>();
    if (const json *id = member(m, "tool_call_id"); id && id->is_string()) out.tool_call_id = id->get<std::string>();
    if (const json *calls = member(m, "tool_calls")) {
        if (!calls->is_array()) fail(path + ".tool_calls", "must be an array");
        for (size_t i = 0; i < calls->size(); ++i) {
            const json &call = (*calls)[i];
            const std::string p = path + ".tool_calls[" + std::to_string(i) + "]";
            if (!call.is_object() || !member(call, "function") || !call["function"].is_object())
                fail(p, "must be {id, type, function:{name, arguments}}");
            model::ToolCall tc;
            if (const json *id = member(call, "id"); id && id->is_string()) tc.id = id->get<std::string>();
            tc.name = get_string(call["function"], "name", p + ".function.");
            tc.arguments = get_string(call["function"], "arguments", p + ".function.");
            out.tool_calls.push_back(std::move(tc));
        }
    }
    return out;
}

GenerateRequest decode_request(const json &r) {
    if (!r.is_object()) fail("request", "must be an object");
    GenerateRequest q;
    const std::string kind = get_string(r, "kind", "request.");
    if (kind == "chat") {
        q.chat = true;
        const json *ms = member(r, "messages");
        if (!ms || !ms->is_array() || ms->empty()) fail("request.messages", "must be a non-empty array");
        for (size_t i = 0; i < ms->size(); ++i)
            q.messages.push_back(decode_message((*ms)[i], "request.messages[" + std::to_string(i) + "]"));
        if (const json *t = member(r, "tools")) {
            if (!t->is_array()) fail("request.tools", "must be an array");
            if (!t->empty()) q.tools_json = t->dump();
        }
    } else if (kind == "completion") {
        q.prompt = get_string(r, "prompt", "request.");
    } else {
        fail("request.kind", "'" + kind + "' is not \"chat\" or \"completion\"");
    }
    if (auto v = get_int(r, "max_tokens", 1, INT32_MAX)) q.max_tokens = static_cast<int32_t>(*v);
    q.temperature = get_number(r, "temperature", 0, 2);
    q.top_p = get_number(r, "top_p", 0, 1);
    q.min_p = get_number(r, "min_p", 0, 1);
    q.presence_penalty = get_number(r, "presence_penalty", -2, 2);
    q.frequency_penalty = get_number(r, "frequency_penalty", -2, 2);
    q.repetition_penalty = get_number(r, "repetition_penalty", 1e-6, 1e6);
    if (auto v = get_int(r, "top_k", 0, INT32_MAX)) q.top_k = static_cast<int32_t>(*v);
    if (const json *s = member(r, "seed")) {
        if (!s->is_number_integer()) fail("request.seed", "must be an integer");
        q.seed = s->is_number_unsigned() ? s->get<uint64_t>() : static_cast<uint64_t>(s->get<int64_t>());
    }
    if (const json *s = member(r, "stop")) {
        if (s->is_string()) q.stop.push_back(s->get<std::string>());
        else if (s->is_array()) {
            for (const auto &item : *s) {
                if (!item.is_string() || item.get_ref<const std::string &>().empty())
                    fail("request.stop", "must hold non-empty strings");
                q.stop.push_back(item.get<std::string>());
            }
        } else fail("request.stop", "must be an array of strings");
        if (q.stop.size() > 4) fail("request.stop", "at most 4 stop strings");
    }
    if (const json *l = member(r, "logprobs")) {
        if (!l->is_boolean()) fail("request.logprobs", "must be a boolean");
        q.logprobs = l->get<bool>();
    }
    if (auto v = get_int(r, "top_logprobs", 0, kMaxTopLogprobs)) {
        if (!q.logprobs) fail("request.top_logprobs", "requires logprobs: true");
        q.top_logprobs = static_cast<int32_t>(*v);
    }
    // logit_bias: {"<token id>": bias} as OpenAI sends it (not in the
    // canonical table yet; accepted when present).
    if (const json *b = member(r, "logit_bias")) {
        if (!b->is_object()) fail("request.logit_bias", "must be an object of token id -> bias");
        for (const auto &[k, v] : b->items()) {
            size_t used = 0;
            long id = -1;
            try {
                id = std::stol(k, &used);
            } catch (const std::exception &) {
                used = 0;
            }
            if (used != k.size() || id < 0 || id > INT32_MAX) fail("request.logit_bias", "key '" + k + "' is not a token id");
            if (!v.is_number()) fail("request.logit_bias." + k, "must be a number");
            q.logit_bias.emplace_back(static_cast<int32_t>(id), v.get<float>());
        }
    }
    return q;
}

json base(const char *type, const std::string &command_id) {
    json j = {{"v", kProtocolVersion}, {"type", type}};
    if (!command_id.empty()) j["command_id"] = command_id;
    return j;
}

std::string dump(const json &j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

} // namespace

bool decode_client_message(std::string_view frame, ClientMessage &out, ProtocolError &error) {
    const json j = json::parse(frame, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) {
        error.message = "the message is not a JSON object";
        return false;
    }
    if (const json *id = member(j, "command_id"); id && id->is_string()) error.command_id = id->get<std::string>();
    const json *v = member(j, "v");
    if (!v || !v->is_number_integer() || v->get<int64_t>() != kProtocolVersion) {
        error.message = "v: protocol version " + (v ? v->dump() : std::string("(missing)")) + " is not supported; this runner speaks " +
                        std::to_string(kProtocolVersion);
        return false;
    }
    try {
        const std::string op = get_string(j, "op", "");
        if (op == "ping") {
            out.op = ClientMessage::Op::ping;
            return true;
        }
        out.command_id = get_string(j, "command_id", "");
        if (out.command_id.empty()) fail("command_id", "empty");
        if (op == "cancel") {
            out.op = ClientMessage::Op::cancel;
        } else if (op == "generate") {
            out.op = ClientMessage::Op::generate;
            const json *r = member(j, "request");
            if (!r) fail("request", "missing");
            out.request = decode_request(*r);
        } else {
            fail("op", "'" + op + "' is not generate, cancel or ping");
        }
        return true;
    } catch (const FieldError &e) {
        error.message = e.message;
        return false;
    } catch (const json::exception &e) { // e.g. a string that is not UTF-8
        error.message = e.what();
        return false;
    }
}

std::string pong_event(bool ready) { return dump({{"v", kProtocolVersion}, {"type", "pong"}, {"ready", ready}}); }

std::string start_event(const std::string &command_id, int32_t prompt_tokens) {
    json j = base("start", command_id);
    j["prompt_tokens"] = prompt_tokens;
    return dump(j);
}

std::string keepalive_event(const std::string &command_id) { return dump(base("keepalive", command_id)); }

void delta_event(const std::string &command_id, std::string_view text, std::string &out) {
    // Once per token, into the sequence's reused buffer: no JSON DOM, so no
    // allocation once warm. The bytes are what dump(base(...)) would write
    // (keys in nlohmann's sorted order, the same U+FFFD replacement).
    out.assign(R"({"command_id":)");
    append_json_string(out, command_id);
    out += R"(,"text":)";
    append_json_string(out, text);
    out += R"(,"type":"delta","v":)";
    out += std::to_string(kProtocolVersion);
    out += '}';
}

void delta_event(const std::string &command_id, std::string_view text, std::string_view logprobs, std::string &out) {
    delta_event(command_id, text, out);
    if (logprobs.empty()) return;
    out.pop_back(); // the closing brace
    out += ",\"logprobs\":[";
    out += logprobs;
    out += "]}";
}

std::string done_event(const std::string &command_id, std::string_view finish_reason, int32_t prompt_tokens,
                       int32_t completion_tokens) {
    json j = base("done", command_id);
    j["finish_reason"] = finish_reason;
    j["usage"] = {{"prompt_tokens", prompt_tokens}, {"completion_tokens", completion_tokens}};
    return dump(j);
}

std::string error_event(const std::string &command_id, int status, std::string_view code, std::string_view message) {
    json j = base("error", command_id);
    j["message"] = message;
    j["status"] = status;
    j["code"] = code;
    j["retryable"] = status >= 500;
    return dump(j);
}

} // namespace skulk::runner
