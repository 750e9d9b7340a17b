// Chat templates: the real template strings of popular models (files in
// templates/), rendered and compared with each model's documented prompt
// format written out by hand; plus the Jinja features they rely on.
#include "chat_template/chat_template.hpp"
#include "chat_template/jinja/interpreter.hpp"
#include "chat_template/jinja/parser.hpp"
#include "unit/test_paths.hpp"

#include <gtest/gtest.h>

using namespace skulk::model;

namespace {

std::string tmpl(const std::string &name) {
    return skulk::test::read_file(skulk::test::source_dir() / "tests/unit/chat_template/templates" / name);
}
ChatMessage msg(std::string role, std::string content) {
    ChatMessage m;
    m.role = std::move(role);
    m.content = std::move(content);
    return m;
}
ChatTemplateOptions opts(std::string bos = "", std::string eos = "", bool gen = true) {
    ChatTemplateOptions o;
    o.bos_token = std::move(bos);
    o.eos_token = std::move(eos);
    o.add_generation_prompt = gen;
    return o;
}
std::string render_src(const std::string &src, const jinja::Variables &vars = {}) {
    return jinja::render(jinja::parse(src), vars);
}
void expect_error(const std::string &src, const std::string &what) {
    try {
        std::string out = render_src(src);
        ADD_FAILURE() << "rendered '" << out << "', expected error: " << what;
    } catch (const jinja::TemplateError &e) {
        EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
}

const ChatMessages kTurns = {msg("user", "Hi"), msg("assistant", "Hello"), msg("user", "How?")};

} // namespace

TEST(ChatTemplate, ChatMLQwen25) {
    const std::string t = tmpl("chatml-qwen2.5.jinja");
    EXPECT_EQ(render_chat(t, {msg("system", "You are helpful."), msg("user", "Hi")}, opts()),
              "<|im_start|>system\nYou are helpful.<|im_end|>\n"
              "<|im_start|>user\nHi<|im_end|>\n"
              "<|im_start|>assistant\n");
    EXPECT_EQ(render_chat(t, {msg("user", "Hi")}, opts("", "", false)),
              "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
              "<|im_start|>user\nHi<|im_end|>\n");
}

TEST(ChatTemplate, ChatMLQwen25WithTools) {
    ChatMessage call = msg("assistant", "");
    call.content_null = true;
    call.tool_calls.push_back({"call_1", "get_weather", R"({"city":"Paris"})"});
    ChatMessage result = msg("tool", R"({"temp": 21})");
    result.tool_call_id = "call_1";
    ChatTemplateOptions o = opts();
    o.tools_json = R"([{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}])";
    EXPECT_EQ(render_chat(tmpl("chatml-qwen2.5.jinja"), {msg("user", "Weather in Paris?"), call, result}, o),
              "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.\n\n"
              "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
              "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
              R"({"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}})"
              "\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
              "<tool_call></tool_call> XML tags:\n<tool_call>\n"
              R"({"name": <function-name>, "arguments": <args-json-object>})"
              "\n</tool_call><|im_end|>\n"
              "<|im_start|>user\nWeather in Paris?<|im_end|>\n"
              "<|im_start|>assistant\n<tool_call>\n"
              R"({"name": "get_weather", "arguments": {"city": "Paris"}})"
              "\n</tool_call><|im_end|>\n"
              "<|im_start|>user\n<tool_response>\n"
              R"({"temp": 21})"
              "\n</tool_response><|im_end|>\n"
              "<|im_start|>assistant\n");
}

TEST(ChatTemplate, Llama2) {
    ChatMessages m = {msg("system", "S"), msg("user", "Hi"), msg("assistant", "Hello"), msg("user", "How?")};
    EXPECT_EQ(render_chat(tmpl("llama2.jinja"), m, opts("<s>", "</s>")),
              "<s>[INST] <<SYS>>\nS\n<</SYS>>\n\nHi [/INST] Hello </s><s>[INST] How? [/INST]");
    try {
        render_chat(tmpl("llama2.jinja"), {msg("user", "a"), msg("user", "b")}, opts("<s>", "</s>"));
        FAIL();
    } catch (const jinja::TemplateError &e) {
        EXPECT_NE(std::string(e.what()).find("Conversation roles must alternate"), std::string::npos) << e.what();
    }
}

TEST(ChatTemplate, Llama3) {
    EXPECT_EQ(render_chat(tmpl("llama3.jinja"), {msg("system", "S"), msg("user", " Hi ")}, opts("<|begin_of_text|>")),
              "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|>"
              "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(ChatTemplate, Llama31And32WithAndWithoutTools) {
    // Llama 3.1 and 3.2 render custom tools the same way (3.2 only adds strftime_now).
    for (const char *file : {"llama3.1.jinja", "llama3.2.jinja"}) {
        SCOPED_TRACE(file);
        const std::string t = tmpl(file);
        ChatTemplateOptions o = opts("<|begin_of_text|>");
        o.date_string = "26 Jul 2024";
        EXPECT_EQ(render_chat(t, {msg("system", "S"), msg("user", "Hi")}, o),
                  "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
                  "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nS<|eot_id|>"
                  "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                  "<|start_header_id|>assistant<|end_header_id|>\n\n");
        o.tools_json = R"([{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}])";
        ChatMessage call = msg("assistant", "");
        call.tool_calls.push_back({"", "get_weather", R"({"city": "Paris"})"});
        EXPECT_EQ(render_chat(t, {msg("user", "Weather?"), call, msg("tool", "21C")}, o),
                  "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
                  "Environment: ipython\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|>"
                  "<|start_header_id|>user<|end_header_id|>\n\n"
                  "Given the following functions, please respond with a JSON for a function call with its proper "
                  "arguments that best answers the given prompt.\n\n"
                  "Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its "
                  "value}.Do not use variables.\n\n"
                  "{\n    \"type\": \"function\",\n    \"function\": {\n        \"name\": \"get_weather\",\n"
                  "        \"parameters\": {\n            \"type\": \"object\"\n        }\n    }\n}\n\n"
                  "Weather?<|eot_id|>"
                  "<|start_header_id|>assistant<|end_header_id|>\n\n"
                  "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}<|eot_id|>"
                  // A string is "iterable" in Jinja, so the tool output is JSON-quoted.
                  "<|start_header_id|>ipython<|end_header_id|>\n\n\"21C\"<|eot_id|>"
                  "<|start_header_id|>assistant<|end_header_id|>\n\n");
    }
}

TEST(ChatTemplate, Llama31BuiltinTools) {
    ChatTemplateOptions o = opts("<|begin_of_text|>");
    o.extra_context_json = R"({"builtin_tools": ["brave_search", "code_interpreter"]})";
    ChatMessage call = msg("assistant", "");
    call.tool_calls.push_back({"", "brave_search", R"({"query": "weather"})"});
    EXPECT_EQ(render_chat(tmpl("llama3.1.jinja"), {msg("user", "Search"), call}, o),
              "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
              "Environment: ipython\nTools: brave_search\n\n"
              "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|>"
              "<|start_header_id|>user<|end_header_id|>\n\nSearch<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\n"
              "<|python_tag|>brave_search.call(query=\"weather\")<|eom_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(ChatTemplate, Mistral) {
    EXPECT_EQ(render_chat(tmpl("mistral.jinja"), kTurns, opts("<s>", "</s>")),
              "<s>[INST] Hi [/INST]Hello</s>[INST] How? [/INST]");
    EXPECT_THROW(render_chat(tmpl("mistral.jinja"), {msg("user", "a"), msg("tool", "b")}, opts()), jinja::TemplateError);
}

TEST(ChatTemplate, Gemma) {
    EXPECT_EQ(render_chat(tmpl("gemma.jinja"), kTurns, opts("<bos>")),
              "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello<end_of_turn>\n"
              "<start_of_turn>user\nHow?<end_of_turn>\n<start_of_turn>model\n");
    try {
        render_chat(tmpl("gemma.jinja"), {msg("system", "S"), msg("user", "Hi")}, opts());
        FAIL();
    } catch (const jinja::TemplateError &e) {
        EXPECT_NE(std::string(e.what()).find("System role not supported"), std::string::npos);
    }
}

TEST(ChatTemplate, Phi3FromTheGgufVocab) {
    EXPECT_EQ(render_chat(tmpl("phi3.jinja"), kTurns, opts("<s>")),
              "<s><|user|>\nHi<|end|>\n<|assistant|>\nHello<|end|>\n<|user|>\nHow?<|end|>\n<|assistant|>\n");
}

TEST(ChatTemplate, ZephyrNeedsTrimBlocks) {
    EXPECT_EQ(render_chat(tmpl("zephyr.jinja"), {msg("system", "S"), msg("user", "Hi")}, opts("", "</s>")),
              "<|system|>\nS</s>\n<|user|>\nHi</s>\n<|assistant|>\n");
}

TEST(ChatTemplate, DeepSeek) {
    EXPECT_EQ(render_chat(tmpl("deepseek.jinja"), kTurns,
                          opts("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>")),
              "<｜begin▁of▁sentence｜>User: Hi\n\nAssistant: Hello<｜end▁of▁sentence｜>User: How?\n\nAssistant:");
}

TEST(ChatTemplate, SmolLM2) {
    EXPECT_EQ(render_chat(tmpl("smollm2.jinja"), {msg("user", "Hi")}, opts()),
              "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
              "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

TEST(Jinja, LoopsNamespacesAndScoping) {
    EXPECT_EQ(render_src("{% for x in [1,2,3] %}{{ loop.index }}{{ '|' if not loop.last }}{% endfor %}"), "1|2|3");
    EXPECT_EQ(render_src("{% for x in ['a','b'] %}{% if loop.first %}[{% endif %}{{ x }}{% endfor %}"), "[ab");
    EXPECT_EQ(render_src("{% set n = 0 %}{% for x in [1,2] %}{% set n = n + x %}{% endfor %}{{ n }}"), "0");
    EXPECT_EQ(render_src("{% set ns = namespace(n=0) %}{% for x in [1,2] %}{% set ns.n = ns.n + x %}{% endfor %}{{ ns.n }}"), "3");
    EXPECT_EQ(render_src("{% for k, v in {'a': 1, 'b': 2} | items %}{{ k }}={{ v }};{% endfor %}"), "a=1;b=2;");
    EXPECT_EQ(render_src("{% for x in [] %}x{% else %}empty{% endfor %}"), "empty");
    EXPECT_EQ(render_src("{% for x in [1,2,3,4] if x is even %}{{ x }}{{ loop.length }}{% endfor %}"), "2242");
    EXPECT_EQ(render_src("{% for x in [1,2,3] %}{% if x == 2 %}{% break %}{% endif %}{{ x }}{% endfor %}"), "1");
    EXPECT_EQ(render_src("{% macro greet(name, p='Hi') %}{{ p }} {{ name }}{% endmacro %}{{ greet('Bo') }}/{{ greet('Al', p='Yo') }}"),
              "Hi Bo/Yo Al");
}

TEST(Jinja, ExpressionsFiltersAndMethods) {
    EXPECT_EQ(render_src("{{ 'abc'[::-1] }}{{ [1,2,3][1:] }}{{ 'hello'[-1] }}"), "cba[2, 3]o");
    EXPECT_EQ(render_src("{{ '  x  '.strip() }}|{{ 'a,b'.split(',') }}|{{ 'ab'.startswith('a') }}|{{ 'ab'.endswith('x') }}"),
              "x|['a', 'b']|True|False");
    EXPECT_EQ(render_src("{{ 'a-b'.replace('-', '+') }}{{ 1 ~ 'x' }}{{ 'X' | lower }}{{ 'y' | upper }}"), "a+b1xxY");
    EXPECT_EQ(render_src("{{ undefined_thing | default('d') }}{{ none | default('e', true) }}{{ [1,2] | length }}"), "de2");
    EXPECT_EQ(render_src("{{ 'b' in 'abc' }}{{ 3 in [1,2] }}{{ 'k' in {'k': 1} }}{{ 'z' not in 'abc' }}"), "TrueFalseTrueTrue");
    EXPECT_EQ(render_src("{{ x is defined }}{{ none is none }}{{ 's' is string }}{{ {} is mapping }}{{ 1 is not string }}"),
              "FalseTrueTrueTrueTrue");
    jinja::Variables v;
    v["users"] = jinja::Value::from_json(R"([{"n":"a","ok":true},{"n":"b","ok":false}])");
    EXPECT_EQ(render_src("{{ users | selectattr('ok') | map(attribute='n') | join(',') }}", v), "a");
    EXPECT_EQ(render_src("{{ users | rejectattr('n', 'equalto', 'a') | list | length }}", v), "1");
    EXPECT_EQ(render_src("{{ {'a': [1, 'x', none, true, 1.5]} | tojson }}"), R"({"a": [1, "x", null, true, 1.5]})");
    EXPECT_EQ(render_src("{{ 7 // 2 }} {{ 7 % 3 }} {{ 2 ** 3 }} {{ 1 / 2 }} {{ -7 // 2 }}"), "3 1 8 0.5 -4");
    EXPECT_EQ(render_src("{{ 'yes' if 1 > 0 else 'no' }}{{ 'a' + 'b' | upper }}"), "yesaB");
}

TEST(Jinja, WhitespaceControl) {
    EXPECT_EQ(render_src("a  {{- 'b' -}}  c"), "abc");
    EXPECT_EQ(render_src("{% if true %}\nx\n{% endif %}\n"), "x\n");          // trim_blocks
    EXPECT_EQ(render_src("line\n    {% if true %}x{% endif %}\n"), "line\nx"); // lstrip_blocks + trim_blocks
    EXPECT_EQ(render_src("{# note #}\nz"), "z");
}

TEST(Jinja, ClearErrors) {
    expect_error("{% include 'x.j2' %}", "unsupported construct '{% include %}' at line 1, column 4");
    expect_error("ok\n{{ 'a' | frobnicate }}", "unsupported filter 'frobnicate' at line 2");
    expect_error("{{ x is weird }}", "unsupported test 'weird'");
    expect_error("{% if true %}x", "missing '{% endif %}'");
    expect_error("{{ 'abc }}", "unterminated string");
    expect_error("{{ nope() }}", "'nope' is not a function");
    expect_error("{{ raise_exception('boom') }}", "template raised an exception: boom");
    expect_error("{% set x %}y{% endset %}", "block set");
    expect_error("{{ messages[] }}", "empty subscript '[]' at line 1, column 12");
}
