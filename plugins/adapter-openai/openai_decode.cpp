#include "openai_decode.hpp"

#include "skulk/plugin.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <set>

namespace skulk::openai {
namespace {

using nlohmann::json;

[[noreturn]] void invalid(const std::string &reason) { throw status_error(SKULK_E_INVALID, reason); }

const char *type_name(const json &v) {
    switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::string: return "a string";
    case json::value_t::array: return "an array";
    case json::value_t::object: return "an object";
    case json::value_t::number_float: return "a decimal";
    default: return "an integer";
    }
}

[[noreturn]] void wrong_type(const std::string &param, const char *expected, const json &got) {
    invalid("Invalid type for '" + param + "': expected " + expected + ", but got " + type_name(got) + " instead.");
}

// A present, non-null member, or nullptr (OpenAI treats null as "not given").
const json *opt(const json &obj, const char *key) {
    auto it = obj.find(key);
    return it == obj.end() || it->is_null() ? nullptr : &*it;
}

std::string fmt_number(double v) {
    json j = v;
    return j.dump();
}

// Copies an optional number within [lo, hi] (open bounds when the flags say so).
void copy_number(const json &in, json &out, const char *key, double lo, double hi, bool lo_open = false) {
    const json *v = opt(in, key);
    if (!v) return;
    if (!v->is_number()) wrong_type(key, "a decimal", *v);
    const double d = v->get<double>();
    if (!std::isfinite(d) || (lo_open ? d <= lo : d < lo) || d > hi)
        invalid(std::string("Invalid '") + key + "': expected a value " + (lo_open ? "> " : ">= ") + fmt_number(lo) +
                " and <= " + fmt_number(hi) + ", but got " + fmt_number(d) + " instead.");
    out[key] = d;
}

// An optional integer >= lo (and <= hi). Returns it, or nullopt.
std::optional<int64_t> get_int(const json &in, const char *key, int64_t lo, int64_t hi) {
    const json *v = opt(in, key);
    if (!v) return std::nullopt;
    // 1.0 is accepted as 1, like the API; 1.5 is not.
    if (v->is_number_float()) {
        const double d = v->get<double>();
        if (!std::isfinite(d) || d != std::floor(d)) wrong_type(key, "an integer", *v);
    } else if (!v->is_number()) {
        wrong_type(key, "an integer", *v);
    }
    const double d = v->get<double>();
    if (d < double(lo))
        invalid(std::string("Invalid '") + key + "': integer below minimum value. Expected a value >= " +
                std::to_string(lo) + ", but got " + fmt_number(d) + " instead.");
    if (d > double(hi))
        invalid(std::string("Invalid '") + key + "': integer above maximum value. Expected a value <= " +
                std::to_string(hi) + ", but got " + fmt_number(d) + " instead.");
    return v->is_number_unsigned() ? int64_t(v->get<uint64_t>()) : v->get<int64_t>();
}

bool get_bool(const json &in, const char *key, bool dflt) {
    const json *v = opt(in, key);
    if (!v) return dflt;
    if (!v->is_boolean()) wrong_type(key, "a boolean", *v);
    return v->get<bool>();
}

// stop: a string or up to 4 non-empty strings -> always an array.
void copy_stop(const json &in, json &out) {
    const json *v = opt(in, "stop");
    if (!v) return;
    json stops = json::array();
    if (v->is_string()) {
        stops.push_back(*v);
    } else if (v->is_array()) {
        if (v->size() > 4)
            invalid("Invalid 'stop': array too long. Expected an array with maximum length 4, but got an array with length " +
                    std::to_string(v->size()) + " instead.");
        for (size_t i = 0; i < v->size(); ++i) {
            const auto &s = (*v)[i];
            if (!s.is_string()) wrong_type("stop[" + std::to_string(i) + "]", "a string", s);
            stops.push_back(s);
        }
    } else {
        wrong_type("stop", "a string or an array of strings", *v);
    }
    for (const auto &s : stops)
        if (s.get_ref<const std::string &>().empty()) invalid("Invalid 'stop': stop sequences must not be empty.");
    if (!stops.empty()) out["stop"] = std::move(stops);
}

bool valid_function_name(const std::string &name) {
    if (name.empty() || name.size() > 64) return false;
    for (char c : name)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
    return true;
}

// tools + tool_choice, validated; names collected to check tool_choice against.
void copy_tools(const json &in, json &out) {
    std::set<std::string> names;
    if (const json *tools = opt(in, "tools")) {
        if (!tools->is_array()) wrong_type("tools", "an array", *tools);
        json list = json::array();
        for (size_t i = 0; i < tools->size(); ++i) {
            const std::string p = "tools[" + std::to_string(i) + "]";
            const auto &t = (*tools)[i];
            if (!t.is_object()) wrong_type(p, "an object", t);
            const json *type = opt(t, "type");
            if (!type || !type->is_string() || *type != "function")
                invalid("Invalid value for '" + p + ".type': expected 'function'.");
            const json *fn = opt(t, "function");
            if (!fn) invalid("Missing required parameter: '" + p + ".function'.");
            if (!fn->is_object()) wrong_type(p + ".function", "an object", *fn);
            const json *name = opt(*fn, "name");
            if (!name) invalid("Missing required parameter: '" + p + ".function.name'.");
            if (!name->is_string()) wrong_type(p + ".function.name", "a string", *name);
            if (!valid_function_name(name->get<std::string>()))
                invalid("Invalid '" + p + ".function.name': string does not match pattern. Expected a string that "
                        "matches the pattern '^[a-zA-Z0-9_-]{1,64}$'.");
            json f = {{"name", *name}};
            if (const json *d = opt(*fn, "description")) {
                if (!d->is_string()) wrong_type(p + ".function.description", "a string", *d);
                f["description"] = *d;
            }
            if (const json *params = opt(*fn, "parameters")) {
                if (!params->is_object()) wrong_type(p + ".function.parameters", "an object", *params);
                f["parameters"] = *params;
            }
            names.insert(name->get<std::string>());
            list.push_back({{"type", "function"}, {"function", std::move(f)}});
        }
        if (!list.empty()) out["tools"] = std::move(list);
    }
    if (const json *choice = opt(in, "tool_choice")) {
        if (choice->is_string()) {
            const auto &s = choice->get_ref<const std::string &>();
            if (s != "none" && s != "auto" && s != "required")
                invalid("Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or a named function, "
                        "but got '" + s + "'.");
            if (s == "required" && names.empty())
                invalid("Invalid value for 'tool_choice': 'required' is only allowed when 'tools' are specified.");
            out["tool_choice"] = s;
        } else if (choice->is_object()) {
            const json *fn = opt(*choice, "function");
            const json *name = fn && fn->is_object() ? opt(*fn, "name") : nullptr;
            if (!name || !name->is_string())
                invalid("Invalid value for 'tool_choice': expected {\"type\":\"function\",\"function\":{\"name\":...}}.");
            if (!names.count(name->get<std::string>()))
                invalid("Invalid value for 'tool_choice': function '" + name->get<std::string>() +
                        "' is not among 'tools'.");
            out["tool_choice"] = {{"type", "function"}, {"function", {{"name", *name}}}};
        } else {
            wrong_type("tool_choice", "a string or an object", *choice);
        }
    }
}

// One content part of a user/system message.
json content_part(const json &part, const std::string &p) {
    if (!part.is_object()) wrong_type(p, "an object", part);
    const json *type = opt(part, "type");
    if (!type || !type->is_string()) invalid("Missing required parameter: '" + p + ".type'.");
    const auto &t = type->get_ref<const std::string &>();
    if (t == "text") {
        const json *text = opt(part, "text");
        if (!text) invalid("Missing required parameter: '" + p + ".text'.");
        if (!text->is_string()) wrong_type(p + ".text", "a string", *text);
        return {{"type", "text"}, {"text", *text}};
    }
    if (t == "image_url") {
        const json *img = opt(part, "image_url");
        const json *url = img && img->is_object() ? opt(*img, "url") : img;
        if (!url || !url->is_string()) invalid("Missing required parameter: '" + p + ".image_url.url'.");
        return {{"type", "image_url"}, {"image_url", {{"url", *url}}}};
    }
    invalid("Invalid value for '" + p + ".type': '" + t + "' is not supported (expected 'text' or 'image_url').");
}

json message(const json &m, size_t index) {
    const std::string p = "messages[" + std::to_string(index) + "]";
    if (!m.is_object()) wrong_type(p, "an object", m);
    const json *role = opt(m, "role");
    if (!role) invalid("Missing required parameter: '" + p + ".role'.");
    if (!role->is_string()) wrong_type(p + ".role", "a string", *role);
    const auto &r = role->get_ref<const std::string &>();
    if (r != "system" && r != "developer" && r != "user" && r != "assistant" && r != "tool")
        invalid("Invalid value: '" + r + "'. Supported values are: 'system', 'developer', 'user', 'assistant', and 'tool'.");
    json out = {{"role", r}};
    const json *content = opt(m, "content");
    const json *tool_calls = opt(m, "tool_calls");
    if (!content) {
        if (r != "assistant") invalid("Missing required parameter: '" + p + ".content'.");
        if (!tool_calls) invalid("Missing required parameter: '" + p + ".content' (an assistant message needs content or tool_calls).");
        out["content"] = "";
    } else if (content->is_string()) {
        out["content"] = *content;
    } else if (content->is_array()) {
        json parts = json::array();
        for (size_t i = 0; i < content->size(); ++i)
            parts.push_back(content_part((*content)[i], p + ".content[" + std::to_string(i) + "]"));
        out["content"] = std::move(parts);
    } else {
        wrong_type(p + ".content", "a string or an array of content parts", *content);
    }
    if (const json *name = opt(m, "name")) {
        if (!name->is_string()) wrong_type(p + ".name", "a string", *name);
        out["name"] = *name;
    }
    if (tool_calls) {
        if (r != "assistant") invalid("Invalid parameter: '" + p + ".tool_calls' is only allowed on assistant messages.");
        if (!tool_calls->is_array()) wrong_type(p + ".tool_calls", "an array", *tool_calls);
        json calls = json::array();
        for (size_t i = 0; i < tool_calls->size(); ++i) {
            const std::string q = p + ".tool_calls[" + std::to_string(i) + "]";
            const auto &c = (*tool_calls)[i];
            if (!c.is_object()) wrong_type(q, "an object", c);
            const json *id = opt(c, "id");
            const json *fn = opt(c, "function");
            if (!id || !id->is_string()) invalid("Missing required parameter: '" + q + ".id'.");
            if (!fn || !fn->is_object()) invalid("Missing required parameter: '" + q + ".function'.");
            const json *name = opt(*fn, "name");
            const json *args = opt(*fn, "arguments");
            if (!name || !name->is_string()) invalid("Missing required parameter: '" + q + ".function.name'.");
            if (args && !args->is_string()) wrong_type(q + ".function.arguments", "a string", *args);
            calls.push_back({{"id", *id},
                             {"type", "function"},
                             {"function", {{"name", *name}, {"arguments", args ? *args : json("")}}}});
        }
        out["tool_calls"] = std::move(calls);
    }
    if (r == "tool") {
        const json *id = opt(m, "tool_call_id");
        if (!id) invalid("Missing required parameter: '" + p + ".tool_call_id'.");
        if (!id->is_string()) wrong_type(p + ".tool_call_id", "a string", *id);
        out["tool_call_id"] = *id;
    }
    return out;
}

// Parameters both routes share.
void copy_common(const json &in, json &out, bool chat) {
    const json *model = opt(in, "model");
    if (!model) invalid("Missing required parameter: 'model'.");
    if (!model->is_string()) wrong_type("model", "a string", *model);
    if (model->get_ref<const std::string &>().empty()) invalid("Invalid 'model': empty string. Expected a model id.");
    out["model"] = *model;

    if (auto n = get_int(in, "n", 1, 128); n && *n != 1)
        invalid("Invalid 'n': only n=1 is supported (one choice per request), but got " + std::to_string(*n) + ".");

    const bool stream = get_bool(in, "stream", false);
    out["stream"] = stream;
    bool include_usage = false;
    if (const json *so = opt(in, "stream_options")) {
        if (!stream) invalid("The 'stream_options' parameter is only allowed when 'stream' is enabled.");
        if (!so->is_object()) wrong_type("stream_options", "an object", *so);
        include_usage = get_bool(*so, "include_usage", false);
    }
    out["stream_include_usage"] = include_usage;

    // max_completion_tokens supersedes the deprecated max_tokens.
    std::optional<int64_t> max_tokens = get_int(in, "max_tokens", 1, INT32_MAX);
    if (chat)
        if (auto m = get_int(in, "max_completion_tokens", 1, INT32_MAX)) max_tokens = m;
    if (!chat && !max_tokens) max_tokens = 16; // the legacy completions API's documented default
    if (max_tokens) out["max_tokens"] = *max_tokens;

    copy_number(in, out, "temperature", 0, 2);
    copy_number(in, out, "top_p", 0, 1);
    copy_number(in, out, "min_p", 0, 1);
    copy_number(in, out, "presence_penalty", -2, 2);
    copy_number(in, out, "frequency_penalty", -2, 2);
    copy_number(in, out, "repetition_penalty", 0, 10, /*lo_open=*/true);
    // top_k is not in OpenAI's API; -1 means "off" as in vLLM, stored as 0.
    if (auto k = get_int(in, "top_k", -1, INT32_MAX)) out["top_k"] = *k < 0 ? 0 : *k;
    if (auto seed = get_int(in, "seed", INT64_MIN, INT64_MAX)) out["seed"] = *seed;
    copy_stop(in, out);
}

json decode_chat(const json &in) {
    json out = {{"kind", "chat"}};
    copy_common(in, out, true);
    const json *messages = opt(in, "messages");
    if (!messages) invalid("Missing required parameter: 'messages'.");
    if (!messages->is_array()) wrong_type("messages", "an array", *messages);
    if (messages->empty())
        invalid("Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.");
    json list = json::array();
    for (size_t i = 0; i < messages->size(); ++i) list.push_back(message((*messages)[i], i));
    out["messages"] = std::move(list);

    const bool logprobs = get_bool(in, "logprobs", false);
    auto top = get_int(in, "top_logprobs", 0, 20);
    if (top && !logprobs) invalid("Invalid value for 'top_logprobs': 'logprobs' must be set to true when 'top_logprobs' is used.");
    if (logprobs) {
        out["logprobs"] = true;
        out["top_logprobs"] = top.value_or(0);
    }
    copy_tools(in, out);
    return out;
}

json decode_completion(const json &in) {
    json out = {{"kind", "completion"}};
    copy_common(in, out, false);
    const json *prompt = opt(in, "prompt");
    if (!prompt) invalid("Missing required parameter: 'prompt'.");
    if (prompt->is_string()) {
        out["prompt"] = *prompt;
    } else if (prompt->is_array() && prompt->size() == 1 && (*prompt)[0].is_string()) {
        out["prompt"] = (*prompt)[0];
    } else if (prompt->is_array() && !prompt->empty() && (*prompt)[0].is_number_integer()) {
        invalid("Invalid 'prompt': token-id prompts are not supported; send the prompt as a string.");
    } else if (prompt->is_array()) {
        invalid("Invalid 'prompt': only one prompt per request is supported (a string or an array of one string).");
    } else {
        wrong_type("prompt", "a string", *prompt);
    }
    if (get_bool(in, "echo", false)) invalid("Invalid 'echo': echo=true is not supported.");
    if (const json *suffix = opt(in, "suffix"); suffix && !(suffix->is_string() && suffix->get_ref<const std::string &>().empty()))
        invalid("Invalid 'suffix': suffix is not supported.");
    if (auto best_of = get_int(in, "best_of", 1, 20); best_of && *best_of != 1)
        invalid("Invalid 'best_of': only best_of=1 is supported.");
    // The legacy API's logprobs is the number of top alternatives (0..5).
    if (auto lp = get_int(in, "logprobs", 0, 5)) {
        out["logprobs"] = true;
        out["top_logprobs"] = *lp;
    }
    return out;
}

} // namespace

std::string decode_request(std::string_view method, std::string_view path, std::string_view body) {
    const bool chat = path == "/v1/chat/completions";
    if (method != "POST" || (!chat && path != "/v1/completions"))
        throw status_error(SKULK_E_UNSUPPORTED, "the openai adapter does not serve " + std::string(method) + " " + std::string(path));
    json in;
    try {
        in = json::parse(body);
    } catch (const json::exception &e) { // parse_error, and out_of_range for a number like 1e400
        invalid(std::string("We could not parse the JSON body of your request: ") + e.what());
    }
    if (!in.is_object()) invalid(std::string("Invalid request body: expected a JSON object, but got ") + type_name(in) + ".");
    return (chat ? decode_chat(in) : decode_completion(in)).dump();
}

} // namespace skulk::openai
