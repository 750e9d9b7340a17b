#include "chat_template/chat_template.hpp"

#include "chat_template/jinja/interpreter.hpp"
#include "chat_template/jinja/parser.hpp"

namespace skulk::model {

using jinja::Value;

namespace {
Value message_value(const ChatMessage &m) {
    Value v = Value::object();
    auto &o = v.obj();
    o.set("role", Value(m.role));
    o.set("content", m.content_null ? Value::none() : Value(m.content));
    if (!m.tool_calls.empty()) {
        jinja::Array calls;
        for (const ToolCall &c : m.tool_calls) {
            Value fn = Value::object();
            fn.obj().set("name", Value(c.name));
            // Templates expect the arguments as a mapping (they tojson it);
            // keep the text when it is not valid JSON.
            Value args;
            try {
                args = Value::from_json(c.arguments.empty() ? "{}" : c.arguments);
            } catch (const jinja::TemplateError &) {
                args = Value(c.arguments);
            }
            fn.obj().set("arguments", args);
            Value call = Value::object();
            if (!c.id.empty()) call.obj().set("id", Value(c.id));
            call.obj().set("type", Value("function"));
            call.obj().set("function", fn);
            calls.push_back(call);
        }
        o.set("tool_calls", Value(std::move(calls)));
    }
    if (!m.tool_call_id.empty()) o.set("tool_call_id", Value(m.tool_call_id));
    if (!m.name.empty()) o.set("name", Value(m.name));
    return v;
}
} // namespace

ChatTemplate::ChatTemplate(const std::string &source) : program_(jinja::parse(source)) {}

std::string ChatTemplate::render(const ChatMessages &messages, const ChatTemplateOptions &opt) const {
    jinja::Variables vars;
    jinja::Array msgs;
    for (const auto &m : messages) msgs.push_back(message_value(m));
    vars["messages"] = Value(std::move(msgs));
    vars["add_generation_prompt"] = Value(opt.add_generation_prompt);
    vars["bos_token"] = Value(opt.bos_token);
    vars["eos_token"] = Value(opt.eos_token);
    if (!opt.tools_json.empty()) {
        Value tools = Value::from_json(opt.tools_json);
        if (tools.is_array() && tools.length() > 0) vars["tools"] = tools;
    }
    if (!opt.date_string.empty()) vars["date_string"] = Value(opt.date_string);
    if (!opt.extra_context_json.empty()) {
        Value extra = Value::from_json(opt.extra_context_json);
        if (!extra.is_object()) throw jinja::TemplateError("extra template context must be a JSON object");
        for (const auto &[k, v] : extra.obj().items) vars[k] = v;
    }
    return jinja::render(program_, vars);
}

std::string render_chat(const std::string &tmpl, const ChatMessages &messages, const ChatTemplateOptions &options) {
    return ChatTemplate(tmpl).render(messages, options);
}

} // namespace skulk::model
