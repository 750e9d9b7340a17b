#include "canonical_event.hpp"

#include <nlohmann/json.hpp>

namespace skulk::openai {
namespace {

using nlohmann::json;

enum class Field {
    none, type, text, id, model, kind, created, stream, include_usage, finish_reason, usage, prompt_tokens,
    completion_tokens, message, retryable, status, code, param, tool_calls, logprobs
};

Field top_field(const std::string &k) {
    static const std::pair<std::string_view, Field> table[] = {
        {"type", Field::type}, {"text", Field::text}, {"id", Field::id}, {"model", Field::model},
        {"kind", Field::kind}, {"created", Field::created}, {"stream", Field::stream},
        {"stream_include_usage", Field::include_usage}, {"finish_reason", Field::finish_reason},
        {"usage", Field::usage}, {"message", Field::message}, {"retryable", Field::retryable},
        {"status", Field::status}, {"code", Field::code}, {"param", Field::param}, {"tool_calls", Field::tool_calls},
        {"logprobs", Field::logprobs}};
    for (const auto &[name, f] : table)
        if (k == name) return f;
    return Field::none;
}

// Top-level scalars go into the event; usage.{prompt,completion}_tokens too;
// everything else (unknown fields, tool_calls' contents) is skipped.
class Sax : public nlohmann::json_sax<json> {
public:
    Sax(CanonicalEvent &ev, std::string &error) : ev_(ev), error_(error) {}

    bool null() override { return true; }
    bool boolean(bool v) override {
        if (depth_ != 1) return true;
        if (field_ == Field::stream) ev_.stream = v;
        else if (field_ == Field::include_usage) ev_.include_usage = v;
        else if (field_ == Field::retryable) ev_.retryable = v;
        else if (is_string_field()) return type_error("a string");
        return true;
    }
    bool number_integer(number_integer_t v) override { return integer(v); }
    bool number_unsigned(number_unsigned_t v) override { return integer(int64_t(v)); }
    bool number_float(number_float_t, const string_t &) override {
        if ((depth_ == 1 && field_ != Field::none) || (depth_ == 2 && in_usage_ && field_ != Field::none))
            return type_error("an integer");
        return true;
    }
    bool string(string_t &v) override {
        if (depth_ != 1) return true;
        switch (field_) {
        case Field::type: ev_.type.assign(v); break;
        case Field::text: ev_.text.assign(v); break;
        case Field::id: ev_.id.assign(v); break;
        case Field::model: ev_.model.assign(v); break;
        case Field::kind: ev_.kind.assign(v); break;
        case Field::finish_reason: ev_.finish_reason.assign(v); break;
        case Field::message: ev_.message.assign(v); break;
        case Field::code: ev_.code.assign(v); break;
        case Field::param: ev_.param.assign(v); break;
        case Field::none: break;
        default: return type_error("not a string");
        }
        return true;
    }
    bool binary(binary_t &) override { return true; }
    bool start_object(std::size_t) override {
        ++depth_;
        if (depth_ == 2 && field_ == Field::usage) { in_usage_ = true; ev_.has_usage = true; }
        return true;
    }
    bool end_object() override {
        if (depth_ == 2) in_usage_ = false;
        --depth_;
        return true;
    }
    bool start_array(std::size_t) override {
        if (depth_ == 1 && field_ == Field::tool_calls) ev_.has_tool_calls = true;
        if (depth_ == 1 && field_ == Field::logprobs) ev_.has_logprobs = true;
        ++depth_;
        return true;
    }
    bool end_array() override {
        --depth_;
        return true;
    }
    bool key(string_t &k) override {
        if (depth_ == 1) field_ = top_field(k);
        else if (depth_ == 2 && in_usage_)
            field_ = k == "prompt_tokens" ? Field::prompt_tokens : k == "completion_tokens" ? Field::completion_tokens : Field::none;
        return true;
    }
    bool parse_error(std::size_t, const std::string &, const nlohmann::detail::exception &e) override {
        error_ = std::string("malformed canonical event: ") + e.what();
        return false;
    }

private:
    bool is_string_field() const {
        return field_ == Field::type || field_ == Field::text || field_ == Field::id || field_ == Field::model ||
               field_ == Field::kind || field_ == Field::finish_reason || field_ == Field::message;
    }
    bool type_error(const char *expected) {
        error_ = "canonical event: a field has the wrong type (expected " + std::string(expected) + ")";
        return false;
    }
    bool integer(int64_t v) {
        if (depth_ == 2 && in_usage_) {
            if (field_ == Field::prompt_tokens) ev_.prompt_tokens = v;
            else if (field_ == Field::completion_tokens) ev_.completion_tokens = v;
            return true;
        }
        if (depth_ != 1) return true;
        switch (field_) {
        case Field::created: ev_.created = v; break;
        case Field::status: ev_.status = v; break;
        case Field::code: ev_.code.assign(std::to_string(v)); break;
        case Field::none: break;
        default: return type_error("not an integer");
        }
        return true;
    }

    CanonicalEvent &ev_;
    std::string &error_;
    int depth_ = 0;
    bool in_usage_ = false;
    Field field_ = Field::none;
};

} // namespace

void CanonicalEvent::clear() {
    type.clear(); text.clear(); id.clear(); model.clear(); kind.clear();
    created = 0;
    stream = include_usage = false;
    finish_reason.clear();
    has_usage = false;
    prompt_tokens = completion_tokens = 0;
    message.clear();
    retryable = false;
    status = 0;
    code.clear();
    param.clear();
    has_tool_calls = false;
    has_logprobs = false;
}

bool read_canonical_event(std::string_view json_text, CanonicalEvent &ev, std::string &error) {
    ev.clear();
    Sax sax(ev, error);
    if (!json::sax_parse(json_text.begin(), json_text.end(), &sax)) {
        if (error.empty()) error = "malformed canonical event";
        return false;
    }
    if (ev.type.empty()) {
        error = "canonical event without a \"type\"";
        return false;
    }
    return true;
}

} // namespace skulk::openai
