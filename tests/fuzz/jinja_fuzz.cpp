// libFuzzer target: arbitrary text as a chat template (they come from model
// files), parsed and rendered over a small conversation. Only TemplateError
// may come out; crashes, hangs and sanitizer reports are bugs.
#include "chat_template/chat_template.hpp"
#include "chat_template/jinja/value.hpp"

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    using namespace skulk::model;
    std::string src(reinterpret_cast<const char *>(data), size);
    ChatMessages msgs(3);
    msgs[0].role = "system", msgs[0].content = "Be brief.";
    msgs[1].role = "user", msgs[1].content = "Hi";
    msgs[2].role = "assistant", msgs[2].content_null = true;
    msgs[2].tool_calls.push_back({"c1", "f", R"({"a": [1, 2.5, "x"]})"});
    ChatTemplateOptions o;
    o.bos_token = "<s>";
    o.eos_token = "</s>";
    o.tools_json = R"([{"type": "function", "function": {"name": "f"}}])";
    try {
        (void)render_chat(src, msgs, o);
    } catch (const jinja::TemplateError &) {
    }
    return 0;
}
