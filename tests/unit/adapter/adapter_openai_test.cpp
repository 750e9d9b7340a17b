// The openai adapter plugin, loaded from the built .so with dlopen and
// driven through its C ABI with real request bodies; the produced SSE and
// JSON are parsed back and checked.
#include "skulk/plugin.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <thread>

using nlohmann::json;

namespace {

struct Plugin {
    void *lib = nullptr;
    skulk_plugin_info info{};
    const skulk_adapter_v1 *vt = nullptr;

    Plugin() {
        const std::filesystem::path path = SKULK_ADAPTER_OPENAI_PATH;
        lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!lib) throw std::runtime_error(std::string("dlopen: ") + dlerror());
        auto negotiate = reinterpret_cast<skulk_plugin_negotiate_fn>(dlsym(lib, SKULK_PLUGIN_ENTRY_SYMBOL));
        if (!negotiate) throw std::runtime_error("no entry symbol");
        static skulk_host_api host{sizeof(skulk_host_api), SKULK_ABI_MINOR, nullptr, nullptr, nullptr};
        info.size = sizeof info;
        if (negotiate(&host, 1, 1, &info) != SKULK_OK) throw std::runtime_error("negotiation failed");
        vt = static_cast<const skulk_adapter_v1 *>(info.vtable);
    }
    ~Plugin() {
        if (lib) dlclose(lib);
    }
};

Plugin &plugin() {
    static Plugin p;
    return p;
}

struct Decoded {
    skulk_status status;
    json request; // on success
    std::string error;
};

Decoded decode(std::string_view body, std::string_view path = "/v1/chat/completions", std::string_view method = "POST") {
    skulk::string_sink out, err;
    const auto st = plugin().vt->decode(skulk::to_str(method), skulk::to_str(path), skulk::to_str(body), out.get(), err.get());
    Decoded d{st, nullptr, err.text};
    if (st == SKULK_OK) d.request = json::parse(out.text);
    return d;
}

// One response: feeds canonical events, collects the wire bytes.
struct Response {
    skulk_adapter_state *state = nullptr;
    std::string wire;
    ~Response() {
        if (state) plugin().vt->free_state(state);
    }
    skulk_status feed(const json &event) {
        const std::string text = event.dump();
        skulk::string_sink sink;
        const auto st = plugin().vt->encode(&state, skulk::to_str(text), sink.get());
        wire += sink.text;
        return st;
    }
};

json start(const char *kind, bool stream, bool usage = false) {
    return {{"type", "start"}, {"id", "chatcmpl-42"}, {"model", "stories260k"}, {"created", 1700000000},
            {"kind", kind}, {"stream", stream}, {"stream_include_usage", usage}};
}
json delta(const std::string &text) { return {{"type", "delta"}, {"text", text}}; }
json done(const char *reason, int prompt, int completion) {
    return {{"type", "done"}, {"finish_reason", reason}, {"usage", {{"prompt_tokens", prompt}, {"completion_tokens", completion}}}};
}

// SSE parsed into its events: comments (": ...") and data payloads.
struct Sse {
    std::vector<std::string> comments;
    std::vector<std::string> data; // raw payloads, "[DONE]" included
    std::vector<json> objects;     // JSON payloads in order
};

Sse parse_sse(const std::string &wire) {
    Sse s;
    size_t pos = 0;
    while (pos < wire.size()) {
        const size_t end = wire.find("\n\n", pos);
        EXPECT_NE(end, std::string::npos) << "unterminated SSE event at " << pos;
        if (end == std::string::npos) break;
        const std::string ev = wire.substr(pos, end - pos);
        pos = end + 2;
        EXPECT_EQ(ev.find('\n'), std::string::npos) << "one line per event expected: " << ev;
        if (ev.rfind(": ", 0) == 0) {
            s.comments.push_back(ev.substr(2));
        } else {
            EXPECT_EQ(ev.rfind("data: ", 0), 0u) << ev;
            s.data.push_back(ev.substr(6));
            if (s.data.back() != "[DONE]") s.objects.push_back(json::parse(s.data.back()));
        }
    }
    return s;
}

const std::string kChat = R"({"model":"stories260k","messages":[{"role":"user","content":"Once upon a time"}]})";

} // namespace

TEST(AdapterOpenai, NegotiatesAsAnAdapterNamedOpenai) {
    auto &p = plugin();
    EXPECT_EQ(p.info.kind, uint32_t(SKULK_KIND_ADAPTER));
    EXPECT_EQ(skulk::view(p.info.name), "openai");
    EXPECT_EQ(p.info.abi_major, 1u);
    ASSERT_NE(p.info.score, nullptr);
    EXPECT_EQ(p.info.score(), 1);
    ASSERT_NE(p.vt, nullptr);
    EXPECT_GE(p.vt->size, sizeof(skulk_adapter_v1));
    const json routes = json::parse(skulk::view(p.vt->routes_json));
    ASSERT_EQ(routes.size(), 2u);
    std::set<std::string> paths;
    for (const auto &r : routes) {
        EXPECT_EQ(r["method"], "POST");
        paths.insert(r["path"].get<std::string>());
    }
    EXPECT_EQ(paths, (std::set<std::string>{"/v1/chat/completions", "/v1/completions"}));
}

TEST(AdapterOpenai, DecodesAFullChatRequest) {
    const auto d = decode(R"({
        "model": "stories260k",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "data:x"}}]},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "42", "name": "f"}
        ],
        "stream": true, "stream_options": {"include_usage": true},
        "max_tokens": 5, "max_completion_tokens": 7,
        "temperature": 0.5, "top_p": 0.9, "top_k": 40, "min_p": 0.05, "seed": 1234,
        "stop": "\n\n", "presence_penalty": 0.1, "frequency_penalty": -0.2, "repetition_penalty": 1.1,
        "logprobs": true, "top_logprobs": 3, "n": 1,
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "user": "ignored-unknown-is-fine"
    })");
    ASSERT_EQ(d.status, SKULK_OK) << d.error;
    const json &r = d.request;
    EXPECT_EQ(r["kind"], "chat");
    EXPECT_EQ(r["model"], "stories260k");
    EXPECT_EQ(r["stream"], true);
    EXPECT_EQ(r["stream_include_usage"], true);
    EXPECT_EQ(r["max_tokens"], 7) << "max_completion_tokens supersedes max_tokens";
    EXPECT_DOUBLE_EQ(r["temperature"].get<double>(), 0.5);
    EXPECT_DOUBLE_EQ(r["top_p"].get<double>(), 0.9);
    EXPECT_EQ(r["top_k"], 40);
    EXPECT_DOUBLE_EQ(r["min_p"].get<double>(), 0.05);
    EXPECT_EQ(r["seed"], 1234);
    EXPECT_EQ(r["stop"], json::array({"\n\n"}));
    EXPECT_DOUBLE_EQ(r["repetition_penalty"].get<double>(), 1.1);
    EXPECT_EQ(r["logprobs"], true);
    EXPECT_EQ(r["top_logprobs"], 3);
    ASSERT_EQ(r["messages"].size(), 4u);
    EXPECT_EQ(r["messages"][0]["content"], "be brief");
    EXPECT_EQ(r["messages"][1]["content"][0]["text"], "hi");
    EXPECT_EQ(r["messages"][1]["content"][1]["image_url"]["url"], "data:x");
    EXPECT_EQ(r["messages"][2]["content"], "");
    EXPECT_EQ(r["messages"][2]["tool_calls"][0]["function"]["name"], "f");
    EXPECT_EQ(r["messages"][3]["tool_call_id"], "c1");
    EXPECT_EQ(r["messages"][3]["name"], "f");
    EXPECT_EQ(r["tools"][0]["function"]["name"], "f");
    EXPECT_EQ(r["tool_choice"]["function"]["name"], "f");
    EXPECT_FALSE(r.contains("user"));
}

TEST(AdapterOpenai, DecodesAMinimalChatRequestWithDefaultsLeftOut) {
    const auto d = decode(kChat);
    ASSERT_EQ(d.status, SKULK_OK) << d.error;
    EXPECT_EQ(d.request["stream"], false);
    EXPECT_EQ(d.request["stream_include_usage"], false);
    for (const char *absent : {"max_tokens", "temperature", "top_p", "top_k", "seed", "stop", "tools", "logprobs"})
        EXPECT_FALSE(d.request.contains(absent)) << absent;
    // null means "not given", as in the OpenAI API.
    const auto n = decode(R"({"model":"m","messages":[{"role":"user","content":"x"}],"temperature":null,"max_tokens":null})");
    ASSERT_EQ(n.status, SKULK_OK) << n.error;
    EXPECT_FALSE(n.request.contains("temperature"));
}

TEST(AdapterOpenai, RejectsBadChatRequestsWithReasons) {
    struct Case {
        std::string body;
        std::string reason_part;
    };
    const std::vector<Case> cases = {
        {"{not json", "could not parse the JSON body"},
        {"[1,2]", "expected a JSON object"},
        // nlohmann throws out_of_range, not parse_error, for a number beyond double (found by fuzz_openai_input).
        {R"({"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":1e400})", "could not parse the JSON body"},
        {R"({"messages":[{"role":"user","content":"x"}]})", "Missing required parameter: 'model'"},
        {R"({"model":7,"messages":[{"role":"user","content":"x"}]})", "Invalid type for 'model'"},
        {R"({"model":"m"})", "Missing required parameter: 'messages'"},
        {R"({"model":"m","messages":[]})", "Invalid 'messages': empty array"},
        {R"({"model":"m","messages":"hi"})", "Invalid type for 'messages'"},
        {R"({"model":"m","messages":[{"content":"x"}]})", "'messages[0].role'"},
        {R"({"model":"m","messages":[{"role":"wizard","content":"x"}]})", "Invalid value: 'wizard'"},
        {R"({"model":"m","messages":[{"role":"user","content":5}]})", "Invalid type for 'messages[0].content'"},
        {R"({"model":"m","messages":[{"role":"user"}]})", "'messages[0].content'"},
        {R"({"model":"m","messages":[{"role":"tool","content":"x"}]})", "'messages[0].tool_call_id'"},
        {R"({"model":"m","messages":[{"role":"user","content":[{"type":"audio"}]}]})", "'messages[0].content[0].type'"},
        {R"({"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":0})", "Invalid 'max_tokens': integer below minimum value"},
        {R"({"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":-5})", "Invalid 'max_tokens'"},
        {R"({"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":"10"})", "Invalid type for 'max_tokens'"},
        {R"({"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":1.5})", "Invalid type for 'max_tokens'"},
        {R"({"model":"m","messages":[{"role":"user","content":"x"}],"max_completion_tokens":0})", "'max_completion_tokens'"},
        {R"({"model":"m","messages":[{"role":"user","content":"x"}],"n":2})", "Invalid 'n'"},
        {R"({"model":"m","messages":[{"role":"user","content":"x"}],"temperature":2.5})", "Invalid 'temperature'"},
        {R"({"model":"m","messages":[{"role":"user","content":"x"}],"temperature":-0.1})", "Invalid 'temperature'"},
        {R"({"model":"m","messages":[{"role":"user","content":"x"}],"temperature":"hot"})", "Invalid type for 'temperature'"},
        {R"({"model":"m","messages":[{"role":"user","content":"x"}],"top_p":1.5})", "Invalid 'top_p'"},
        {R"({"model":"m","messages":[{"role":"user","content":"x"}],"presence_penalty":3})", "Invalid 'presence_penalty'"},
        {R"({"model":"m","messages":[{"role":"user","content":"x"}],"repetition_penalty":0})", "Invalid 'repetition_penalty'"},
        {R"({"model":"m","messages":[{"role":"user","content":"x"}],"stream":"yes"})", "Invalid type for 'stream'"},
        {R"({"model":"m","messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":true}})", "only allowed when 'stream' is enabled"},
        {R"({"model":"m","messages":[{"role":"user","content":"x"}],"stop":["a","b","c","d","e"]})", "Invalid 'stop'"},
        {R"({"model":"m","messages":[{"role":"user","content":"x"}],"stop":[1]})", "'stop[0]'"},
        {R"({"model":"m","messages":[{"role":"user","content":"x"}],"top_logprobs":2})", "'logprobs' must be set to true"},
        {R"({"model":"m","messages":[{"role":"user","content":"x"}],"logprobs":true,"top_logprobs":21})", "'top_logprobs'"},
        {R"({"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"bad name"}}]})", "'tools[0].function.name'"},
        {R"({"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"sometimes"})", "'tool_choice'"},
        {R"({"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"required"})", "'tool_choice'"},
        {R"({"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"g"}}})", "'g' is not among 'tools'"},
    };
    for (const auto &c : cases) {
        const auto d = decode(c.body);
        EXPECT_EQ(d.status, SKULK_E_INVALID) << c.body;
        EXPECT_NE(d.error.find(c.reason_part), std::string::npos) << c.body << "\n  error: " << d.error;
    }
}

TEST(AdapterOpenai, DecodesCompletions) {
    const auto d = decode(R"({"model":"m","prompt":"Once upon","stream":true,"logprobs":2})", "/v1/completions");
    ASSERT_EQ(d.status, SKULK_OK) << d.error;
    EXPECT_EQ(d.request["kind"], "completion");
    EXPECT_EQ(d.request["prompt"], "Once upon");
    EXPECT_EQ(d.request["max_tokens"], 16) << "the legacy API's default";
    EXPECT_EQ(d.request["top_logprobs"], 2);
    EXPECT_FALSE(d.request.contains("messages"));
    const auto one = decode(R"({"model":"m","prompt":["only one"],"max_tokens":3})", "/v1/completions");
    ASSERT_EQ(one.status, SKULK_OK) << one.error;
    EXPECT_EQ(one.request["prompt"], "only one");
    EXPECT_EQ(one.request["max_tokens"], 3);

    for (const auto &[body, part] : std::vector<std::pair<std::string, std::string>>{
             {R"({"model":"m"})", "Missing required parameter: 'prompt'"},
             {R"({"model":"m","prompt":["a","b"]})", "only one prompt"},
             {R"({"model":"m","prompt":[1,2,3]})", "token-id prompts"},
             {R"({"model":"m","prompt":{}})", "Invalid type for 'prompt'"},
             {R"({"model":"m","prompt":"x","echo":true})", "echo"},
             {R"({"model":"m","prompt":"x","best_of":3})", "best_of"},
             {R"({"model":"m","prompt":"x","logprobs":true})", "Invalid type for 'logprobs'"},
         }) {
        const auto e = decode(body, "/v1/completions");
        EXPECT_EQ(e.status, SKULK_E_INVALID) << body;
        EXPECT_NE(e.error.find(part), std::string::npos) << body << "\n  error: " << e.error;
    }
}

TEST(AdapterOpenai, UnknownRouteIsUnsupported) {
    EXPECT_EQ(decode(kChat, "/v1/embeddings").status, SKULK_E_UNSUPPORTED);
    EXPECT_EQ(decode(kChat, "/v1/chat/completions", "GET").status, SKULK_E_UNSUPPORTED);
}

TEST(AdapterOpenai, EncodesAChatStream) {
    Response r;
    const std::vector<std::string> pieces = {"Once", " upon a", " time,\n\"quoted\" \\ tab\t", " caf\xC3\xA9 \xF0\x9F\xA6\x8A"};
    ASSERT_EQ(r.feed(start("chat", true, true)), SKULK_OK);
    ASSERT_EQ(r.feed({{"type", "command_id"}, {"id", "cmd-7"}}), SKULK_OK);
    ASSERT_EQ(r.feed({{"type", "keepalive"}}), SKULK_OK);
    std::string expected;
    for (const auto &p : pieces) {
        ASSERT_EQ(r.feed(delta(p)), SKULK_OK);
        expected += p;
    }
    ASSERT_EQ(r.feed(done("length", 5, 4)), SKULK_OK);

    const Sse s = parse_sse(r.wire);
    EXPECT_EQ(s.comments, (std::vector<std::string>{"command_id cmd-7", "keep-alive"}));
    ASSERT_FALSE(s.data.empty());
    EXPECT_EQ(s.data.back(), "[DONE]");
    // role chunk + 4 deltas + finish chunk + usage chunk
    ASSERT_EQ(s.objects.size(), 1u + pieces.size() + 2u);
    std::string text;
    for (size_t i = 0; i < s.objects.size(); ++i) {
        const json &o = s.objects[i];
        EXPECT_EQ(o["object"], "chat.completion.chunk");
        EXPECT_EQ(o["id"], "chatcmpl-42");
        EXPECT_EQ(o["model"], "stories260k");
        EXPECT_EQ(o["created"], 1700000000);
        if (i + 1 < s.objects.size()) {
            EXPECT_TRUE(o.contains("usage") && o["usage"].is_null()) << o.dump();
            ASSERT_EQ(o["choices"].size(), 1u);
            const json &c = o["choices"][0];
            EXPECT_EQ(c["index"], 0);
            if (i == 0) EXPECT_EQ(c["delta"]["role"], "assistant");
            else EXPECT_FALSE(c["delta"].contains("role"));
            if (c["delta"].contains("content")) text += c["delta"]["content"].get<std::string>();
            if (i + 2 == s.objects.size()) EXPECT_EQ(c["finish_reason"], "length");
            else EXPECT_TRUE(c["finish_reason"].is_null());
        }
    }
    EXPECT_EQ(text, expected);
    const json &u = s.objects.back();
    EXPECT_TRUE(u["choices"].empty());
    EXPECT_EQ(u["usage"]["prompt_tokens"], 5);
    EXPECT_EQ(u["usage"]["completion_tokens"], 4);
    EXPECT_EQ(u["usage"]["total_tokens"], 9);
    // Nothing may follow the end.
    EXPECT_EQ(r.feed(delta("late")), SKULK_E_INVALID);
}

TEST(AdapterOpenai, StreamWithoutUsageHasNoUsageFields) {
    Response r;
    r.feed(start("chat", true, false));
    r.feed(delta("a"));
    r.feed(done("stop", 1, 1));
    const Sse s = parse_sse(r.wire);
    ASSERT_EQ(s.objects.size(), 3u);
    for (const auto &o : s.objects) EXPECT_FALSE(o.contains("usage")) << o.dump();
    EXPECT_EQ(s.objects.back()["choices"][0]["finish_reason"], "stop");
    EXPECT_EQ(s.data.back(), "[DONE]");
}

TEST(AdapterOpenai, EncodesANonStreamingChatCompletion) {
    Response r;
    ASSERT_EQ(r.feed(start("chat", false)), SKULK_OK);
    ASSERT_EQ(r.feed({{"type", "keepalive"}}), SKULK_OK);
    ASSERT_EQ(r.feed({{"type", "command_id"}, {"id", "x"}}), SKULK_OK);
    ASSERT_EQ(r.feed(delta("Hello")), SKULK_OK);
    ASSERT_EQ(r.feed(delta(", world")), SKULK_OK);
    EXPECT_TRUE(r.wire.empty()) << "nothing before done: " << r.wire;
    ASSERT_EQ(r.feed(done("stop", 3, 2)), SKULK_OK);
    const json o = json::parse(r.wire);
    EXPECT_EQ(o["object"], "chat.completion");
    EXPECT_EQ(o["id"], "chatcmpl-42");
    EXPECT_EQ(o["model"], "stories260k");
    EXPECT_EQ(o["choices"][0]["message"]["role"], "assistant");
    EXPECT_EQ(o["choices"][0]["message"]["content"], "Hello, world");
    EXPECT_EQ(o["choices"][0]["finish_reason"], "stop");
    EXPECT_EQ(o["usage"]["total_tokens"], 5);
}

TEST(AdapterOpenai, EncodesCompletionsBothWays) {
    {
        Response r;
        r.feed(start("completion", true, true));
        r.feed(delta(" there"));
        r.feed(delta(" was"));
        r.feed(done("stop", 2, 2));
        const Sse s = parse_sse(r.wire);
        ASSERT_EQ(s.objects.size(), 4u) << r.wire; // no role chunk for completions
        std::string text;
        for (const auto &o : s.objects) {
            EXPECT_EQ(o["object"], "text_completion");
            if (!o["choices"].empty()) text += o["choices"][0]["text"].get<std::string>();
        }
        EXPECT_EQ(text, " there was");
        EXPECT_EQ(s.objects[2]["choices"][0]["finish_reason"], "stop");
        EXPECT_EQ(s.objects[3]["usage"]["total_tokens"], 4);
    }
    {
        Response r;
        r.feed(start("completion", false));
        r.feed(delta(" there"));
        r.feed(done("length", 2, 1));
        const json o = json::parse(r.wire);
        EXPECT_EQ(o["object"], "text_completion");
        EXPECT_EQ(o["choices"][0]["text"], " there");
        EXPECT_EQ(o["choices"][0]["finish_reason"], "length");
    }
}

TEST(AdapterOpenai, ToolCallsStreamAndAccumulate) {
    const json call = {{"type", "delta"}, {"tool_calls", {{{"id", "call_a"}, {"name", "get_weather"}, {"arguments", "{\"city\":\"Oslo\"}"}}}}};
    {
        Response r;
        r.feed(start("chat", true));
        ASSERT_EQ(r.feed(call), SKULK_OK);
        r.feed(done("tool_calls", 1, 1));
        const Sse s = parse_sse(r.wire);
        ASSERT_EQ(s.objects.size(), 3u);
        const json &tc = s.objects[1]["choices"][0]["delta"]["tool_calls"][0];
        EXPECT_EQ(tc["index"], 0);
        EXPECT_EQ(tc["id"], "call_a");
        EXPECT_EQ(tc["function"]["name"], "get_weather");
        EXPECT_EQ(json::parse(tc["function"]["arguments"].get<std::string>())["city"], "Oslo");
        EXPECT_EQ(s.objects[2]["choices"][0]["finish_reason"], "tool_calls");
    }
    {
        Response r;
        r.feed(start("chat", false));
        r.feed(call);
        r.feed(done("tool_calls", 1, 1));
        const json o = json::parse(r.wire);
        EXPECT_TRUE(o["choices"][0]["message"]["content"].is_null());
        EXPECT_EQ(o["choices"][0]["message"]["tool_calls"][0]["function"]["name"], "get_weather");
    }
}

TEST(AdapterOpenai, ErrorMidStreamIsATerminalEvent) {
    Response r;
    r.feed(start("chat", true));
    r.feed(delta("partial"));
    ASSERT_EQ(r.feed({{"type", "error"}, {"message", "the runner died"}, {"retryable", true}, {"status", 500}}), SKULK_OK);
    const Sse s = parse_sse(r.wire);
    ASSERT_FALSE(s.objects.empty());
    const json &e = s.objects.back();
    ASSERT_TRUE(e.contains("error")) << e.dump();
    EXPECT_NE(e["error"]["message"].get<std::string>().find("the runner died"), std::string::npos);
    EXPECT_NE(e["error"]["message"].get<std::string>().find("retried"), std::string::npos);
    EXPECT_EQ(e["error"]["type"], "server_error");
    EXPECT_EQ(e["error"]["code"], "internal_error") << "code is always a string";
    EXPECT_EQ(std::count(s.data.begin(), s.data.end(), "[DONE]"), 0);
    EXPECT_EQ(r.feed(delta("more")), SKULK_E_INVALID);
}

TEST(AdapterOpenai, ErrorBeforeStartOrNonStreamingIsTheEnvelope) {
    {
        Response r; // e.g. an unplaced model: the host never got to start
        ASSERT_EQ(r.feed({{"type", "error"}, {"message", "No instance found for model x"}, {"status", 404}, {"code", "model_not_found"}, {"param", "model"}}),
                  SKULK_OK);
        const json o = json::parse(r.wire);
        EXPECT_EQ(o["error"]["message"], "No instance found for model x");
        EXPECT_EQ(o["error"]["type"], "not_found_error");
        EXPECT_EQ(o["error"]["code"], "model_not_found");
        EXPECT_EQ(o["error"]["param"], "model");
    }
    {
        Response r;
        r.feed(start("chat", false));
        r.feed(delta("x"));
        r.feed({{"type", "error"}, {"message", "too long"}, {"status", 400}, {"code", "context_length_exceeded"}});
        const json o = json::parse(r.wire);
        EXPECT_EQ(o["error"]["type"], "invalid_request_error");
        EXPECT_EQ(o["error"]["code"], "context_length_exceeded");
        EXPECT_TRUE(o["error"]["param"].is_null());
    }
}

TEST(AdapterOpenai, ErrorCodesAreAlwaysStrings) {
    {
        Response r; // an integer code in the event: its decimal text
        ASSERT_EQ(r.feed({{"type", "error"}, {"message", "m"}, {"status", 400}, {"code", 42}}), SKULK_OK);
        EXPECT_EQ(json::parse(r.wire)["error"]["code"], "42");
    }
    for (const auto &[status, code] : std::vector<std::pair<int, std::string>>{
             {400, "invalid_request"}, {404, "not_found"}, {503, "service_unavailable"}, {502, "internal_error"}}) {
        Response r; // no code: one named after the status
        ASSERT_EQ(r.feed({{"type", "error"}, {"message", "m"}, {"status", status}}), SKULK_OK);
        EXPECT_EQ(json::parse(r.wire)["error"]["code"], code) << status;
    }
}

TEST(AdapterOpenai, RejectsMalformedOrOutOfOrderEvents) {
    {
        Response r;
        EXPECT_EQ(r.feed(delta("too early")), SKULK_E_INVALID);
    }
    {
        Response r;
        EXPECT_EQ(r.feed({{"type", "teleport"}}), SKULK_E_INVALID);
    }
    {
        Response r;
        r.feed(start("chat", true));
        EXPECT_EQ(r.feed({{"type", "done"}, {"finish_reason", "bored"}}), SKULK_E_INVALID);
        EXPECT_EQ(r.feed({{"type", "delta"}, {"text", 5}}), SKULK_E_INVALID);
        EXPECT_EQ(r.feed(start("chat", true)), SKULK_E_INVALID);
    }
    {
        Response r;
        EXPECT_EQ(r.feed(start("banter", true)), SKULK_E_INVALID);
    }
    skulk_adapter_state *state = nullptr;
    skulk::string_sink sink;
    EXPECT_EQ(plugin().vt->encode(&state, skulk::to_str("{broken"), sink.get()), SKULK_E_INVALID);
    plugin().vt->free_state(state);
}

TEST(AdapterOpenai, ConcurrentUseGivesTheSameBytes) {
    auto run_once = [] {
        const auto d = decode(R"({"model":"m","messages":[{"role":"user","content":"x"}],"stream":true})");
        Response r;
        r.feed(start("chat", d.request["stream"].get<bool>()));
        for (int i = 0; i < 50; ++i) r.feed(delta(" tok" + std::to_string(i)));
        r.feed(done("stop", 1, 50));
        return r.wire;
    };
    const std::string reference = run_once();
    std::vector<std::thread> threads;
    std::atomic<int> mismatches{0};
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 100; ++i)
                if (run_once() != reference) ++mismatches;
        });
    for (auto &th : threads) th.join();
    EXPECT_EQ(mismatches.load(), 0);
}

// Bad input is a 400, never a 500: mutated and truncated bodies and events
// (a seeded generator, so a failure reproduces) give SKULK_OK with valid
// JSON or SKULK_E_INVALID, never SKULK_E_INTERNAL or a crash.
TEST(AdapterOpenai, MutatedInputIsRejectedCleanly) {
    const std::vector<std::string> bodies = {
        R"({"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true},"max_tokens":5,"stop":["a"],"temperature":0.7})",
        R"({"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"auto"})",
        R"({"model":"m","prompt":["p"],"logprobs":2,"max_tokens":3})",
    };
    const std::string alphabet = "{}[]\":,0123456789.-eE truefalsnul\\u00\xC3\xA9";
    std::mt19937 rng(1234);
    int ok = 0, invalid = 0;
    for (int iter = 0; iter < 3000; ++iter) {
        std::string body = bodies[iter % bodies.size()];
        const int edits = 1 + int(rng() % 4);
        for (int e = 0; e < edits && !body.empty(); ++e) {
            const size_t pos = rng() % body.size();
            switch (rng() % 3) {
            case 0: body[pos] = alphabet[rng() % alphabet.size()]; break;
            case 1: body.erase(pos, 1 + rng() % 8); break;
            default: body.insert(pos, 1, alphabet[rng() % alphabet.size()]); break;
            }
        }
        const std::string path = iter % bodies.size() == 2 ? "/v1/completions" : "/v1/chat/completions";
        const auto d = decode(body, path);
        ASSERT_TRUE(d.status == SKULK_OK || d.status == SKULK_E_INVALID) << "status " << d.status << " for " << body;
        if (d.status == SKULK_OK) ++ok;
        else {
            ++invalid;
            EXPECT_FALSE(d.error.empty()) << body;
        }
    }
    EXPECT_GT(invalid, 0);
    EXPECT_GT(ok + invalid, 0);
    const std::vector<json> events = {start("chat", true, true), delta("x"), done("stop", 1, 1),
                                      json{{"type", "error"}, {"message", "m"}, {"status", 500}}};
    for (int iter = 0; iter < 2000; ++iter) {
        Response r;
        for (const auto &ev : events) {
            std::string text = ev.dump();
            if (rng() % 2) {
                const size_t pos = rng() % text.size();
                text[pos] = alphabet[rng() % alphabet.size()];
            }
            skulk::string_sink sink;
            const auto st = plugin().vt->encode(&r.state, skulk::to_str(text), sink.get());
            ASSERT_TRUE(st == SKULK_OK || st == SKULK_E_INVALID) << "status " << st << " for " << text;
        }
    }
}

namespace {
json lp_entry(const std::string &tok, double lp, std::vector<std::pair<std::string, double>> top) {
    json t = json::array();
    for (auto &[k, v] : top) t.push_back({{"token", k}, {"logprob", v}, {"bytes", json::array()}});
    return {{"token", tok}, {"logprob", lp}, {"bytes", json::array()}, {"top_logprobs", t}};
}
json lp_delta(const std::string &text, json entries) { return {{"type", "delta"}, {"text", text}, {"logprobs", entries}}; }
} // namespace

TEST(AdapterOpenai, ChatLogprobsStreamAndAccumulateInOpenAIShapes) {
    const json e1 = lp_entry("Hel", -0.5, {{"Hel", -0.5}, {"He", -1.5}});
    const json e2 = lp_entry("lo", -0.25, {{"lo", -0.25}, {"p", -2.0}});
    {
        Response r;
        r.feed(start("chat", true));
        ASSERT_EQ(r.feed(lp_delta("Hel", json::array({e1}))), SKULK_OK);
        ASSERT_EQ(r.feed(lp_delta("lo", json::array({e2}))), SKULK_OK);
        r.feed(done("stop", 1, 2));
        const Sse s = parse_sse(r.wire);
        ASSERT_EQ(s.objects.size(), 4u) << r.wire;
        const json &c = s.objects[1]["choices"][0];
        EXPECT_EQ(c["delta"]["content"], "Hel");
        EXPECT_EQ(c["logprobs"]["content"][0]["token"], "Hel");
        EXPECT_EQ(c["logprobs"]["content"][0]["top_logprobs"][1]["token"], "He");
        EXPECT_TRUE(c["logprobs"]["refusal"].is_null());
        EXPECT_TRUE(c["finish_reason"].is_null());
    }
    {
        Response r;
        r.feed(start("chat", false));
        r.feed(lp_delta("Hel", json::array({e1})));
        r.feed(lp_delta("", json::array({e2}))); // entries may come with no text
        r.feed(done("length", 1, 2));
        const json o = json::parse(r.wire);
        EXPECT_EQ(o["choices"][0]["message"]["content"], "Hel");
        ASSERT_EQ(o["choices"][0]["logprobs"]["content"].size(), 2u);
        EXPECT_EQ(o["choices"][0]["logprobs"]["content"][1]["logprob"], -0.25);
    }
    {
        Response r; // no logprobs asked: null as before
        r.feed(start("chat", false));
        r.feed(delta("x"));
        r.feed(done("stop", 1, 1));
        EXPECT_TRUE(json::parse(r.wire)["choices"][0]["logprobs"].is_null());
    }
}

TEST(AdapterOpenai, CompletionLogprobsAreTheLegacyColumns) {
    Response r;
    r.feed(start("completion", false));
    r.feed(lp_delta(" hé", json::array({lp_entry(" h", -0.1, {{" h", -0.1}}), lp_entry("é", -0.2, {{"é", -0.2}, {"e", -3}})})));
    r.feed(lp_delta("!", json::array({lp_entry("!", -0.3, {})})));
    r.feed(done("stop", 1, 3));
    const json lp = json::parse(r.wire)["choices"][0]["logprobs"];
    EXPECT_EQ(lp["tokens"], json({" h", "é", "!"}));
    EXPECT_EQ(lp["token_logprobs"], json({-0.1, -0.2, -0.3}));
    EXPECT_EQ(lp["top_logprobs"][1], json({{"é", -0.2}, {"e", -3}}));
    EXPECT_EQ(lp["top_logprobs"][2], json::object());
    EXPECT_EQ(lp["text_offset"], json({0, 2, 3})); // code points
    // A malformed entry is refused.
    Response bad;
    bad.feed(start("completion", true));
    EXPECT_EQ(bad.feed(lp_delta("x", json::array({{{"token", 1}}}))), SKULK_E_INVALID);
}

TEST(AdapterOpenai, LogprobsRequestFieldsAreValidated) {
    auto chat = [](const std::string &extra) {
        return decode(R"({"model":"m","messages":[{"role":"user","content":"hi"}])" + extra + "}");
    };
    auto ok = chat(R"(,"logprobs":true,"top_logprobs":3)");
    ASSERT_EQ(ok.status, SKULK_OK) << ok.error;
    EXPECT_EQ(ok.request["logprobs"], true);
    EXPECT_EQ(ok.request["top_logprobs"], 3);
    auto too_many = chat(R"(,"logprobs":true,"top_logprobs":21)");
    EXPECT_EQ(too_many.status, SKULK_E_INVALID);
    EXPECT_NE(too_many.error.find("top_logprobs"), std::string::npos) << too_many.error;
    auto without = chat(R"(,"top_logprobs":2)");
    EXPECT_EQ(without.status, SKULK_E_INVALID);
    EXPECT_NE(without.error.find("top_logprobs"), std::string::npos) << without.error;
    auto legacy = decode(R"({"model":"m","prompt":"x","logprobs":6})", "/v1/completions");
    EXPECT_EQ(legacy.status, SKULK_E_INVALID);
    EXPECT_NE(legacy.error.find("logprobs"), std::string::npos) << legacy.error;
}
