// Renders a conversation into a prompt with a model's chat template
// (tokenizer.chat_template, a Jinja template), as Hugging Face transformers
// does (trim_blocks and lstrip_blocks on).
#pragma once

#include "chat_template/jinja/ast.hpp"

#include <string>
#include <vector>

namespace skulk::model {

struct ToolCall {
    std::string id;
    std::string name;
    std::string arguments; // JSON text as the client sent it (an object)
};

struct ChatMessage {
    std::string role; // system | user | assistant | tool
    std::string content;
    bool content_null = false; // an assistant turn that only calls tools
    std::vector<ToolCall> tool_calls;
    std::string tool_call_id; // role tool
    std::string name;         // optional
};
using ChatMessages = std::vector<ChatMessage>;

struct ChatTemplateOptions {
    bool add_generation_prompt = true;
    std::string bos_token;
    std::string eos_token;
    std::string tools_json; // the request's tools array as JSON text; empty: none
    std::string date_string; // Llama 3.1 templates; empty: the template's default
    // More template variables as a JSON object (HF apply_chat_template
    // kwargs: builtin_tools, enable_thinking, ...); empty: none.
    std::string extra_context_json;
};

// A parsed template, reusable across requests.
class ChatTemplate {
public:
    // Throws jinja::TemplateError naming an unsupported construct and its position.
    explicit ChatTemplate(const std::string &source);
    std::string render(const ChatMessages &messages, const ChatTemplateOptions &options) const;

private:
    jinja::Body program_;
};

std::string render_chat(const std::string &tmpl, const ChatMessages &messages, const ChatTemplateOptions &options);

} // namespace skulk::model
