// The runner protocol codec in-process: every field error names its field,
// canonical requests decode into the scheduler's C++ types, and the events
// carry v, type and command_id.
#include "runner/protocol.hpp"
#include "unit/heap_allocations.hpp"

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

namespace skulk::runner {
namespace {

using nlohmann::json;

std::string decode_error(const json &message) {
    ClientMessage m;
    ProtocolError e;
    EXPECT_FALSE(decode_client_message(message.dump(), m, e)) << message.dump();
    return e.message;
}

json generate(json request) { return {{"v", 1}, {"op", "generate"}, {"command_id", "c"}, {"request", std::move(request)}}; }

TEST(RunnerProtocol, DecodesAChatRequest) {
    const json req = {{"kind", "chat"},
                      {"model", "m"},
                      {"messages",
                       {{{"role", "developer"}, {"content", "be brief"}},
                        {{"role", "user"}, {"content", {{{"type", "text"}, {"text", "a"}}, {{"type", "text"}, {"text", "b"}}}}},
                        {{"role", "assistant"},
                         {"content", nullptr},
                         {"tool_calls", {{{"id", "t1"}, {"type", "function"}, {"function", {{"name", "f"}, {"arguments", "{}"}}}}}}}}},
                      {"stream", true},
                      {"max_tokens", 7},
                      {"temperature", 0.5},
                      {"top_k", 3},
                      {"seed", 42},
                      {"stop", "END"},
                      {"logit_bias", {{"5", -1.5}}},
                      {"tools", json::array({{{"type", "function"}, {"function", {{"name", "f"}}}}})}};
    ClientMessage m;
    ProtocolError e;
    ASSERT_TRUE(decode_client_message(generate(req).dump(), m, e)) << e.message;
    EXPECT_EQ(m.op, ClientMessage::Op::generate);
    EXPECT_EQ(m.command_id, "c");
    const GenerateRequest &r = m.request;
    EXPECT_TRUE(r.chat);
    ASSERT_EQ(r.messages.size(), 3u);
    EXPECT_EQ(r.messages[0].role, "system");
    EXPECT_EQ(r.messages[1].content, "ab");
    EXPECT_TRUE(r.messages[2].content_null);
    ASSERT_EQ(r.messages[2].tool_calls.size(), 1u);
    EXPECT_EQ(r.messages[2].tool_calls[0].name, "f");
    EXPECT_EQ(r.max_tokens, 7);
    EXPECT_FLOAT_EQ(*r.temperature, 0.5f);
    EXPECT_EQ(r.top_k, 3);
    EXPECT_EQ(r.seed, 42u);
    EXPECT_EQ(r.stop, std::vector<std::string>{"END"});
    ASSERT_EQ(r.logit_bias.size(), 1u);
    EXPECT_EQ(r.logit_bias[0].first, 5);
    EXPECT_FALSE(r.tools_json.empty());
    EXPECT_FALSE(r.top_p.has_value());
}

TEST(RunnerProtocol, FieldErrorsNameTheField) {
    const json ok = {{"kind", "completion"}, {"prompt", "x"}};
    auto with = [&](const char *k, json v) {
        json r = ok;
        r[k] = std::move(v);
        return generate(r);
    };
    EXPECT_NE(decode_error(with("max_tokens", 0)).find("request.max_tokens"), std::string::npos);
    EXPECT_NE(decode_error(with("temperature", 3)).find("request.temperature"), std::string::npos);
    EXPECT_NE(decode_error(with("top_k", -1)).find("request.top_k"), std::string::npos);
    EXPECT_NE(decode_error(with("stop", json::array({"a", "b", "c", "d", "e"}))).find("request.stop"), std::string::npos);
    EXPECT_NE(decode_error(with("stop", json::array({""}))).find("request.stop"), std::string::npos);
    EXPECT_NE(decode_error(with("logit_bias", {{"x", 1}})).find("request.logit_bias"), std::string::npos);
    EXPECT_NE(decode_error(with("kind", "embed")).find("request.kind"), std::string::npos);
    EXPECT_NE(decode_error(generate({{"kind", "chat"}, {"messages", json::array()}})).find("request.messages"),
              std::string::npos);
    EXPECT_NE(decode_error(generate({{"kind", "chat"},
                                     {"messages", {{{"role", "user"},
                                                    {"content", {{{"type", "image_url"}, {"image_url", {{"url", "u"}}}}}}}}}}))
                  .find("request.messages[0].content[0].type"),
              std::string::npos);
    EXPECT_NE(decode_error({{"v", 1}, {"op", "generate"}, {"request", ok}}).find("command_id"), std::string::npos);
    EXPECT_NE(decode_error({{"v", 1}, {"op", "jump"}, {"command_id", "c"}}).find("op"), std::string::npos);
    EXPECT_NE(decode_error({{"op", "ping"}}).find("version"), std::string::npos);
    EXPECT_NE(decode_error({{"v", 2}, {"op", "ping"}}).find("version"), std::string::npos);

    ClientMessage m;
    ProtocolError e;
    EXPECT_FALSE(decode_client_message("{not json", m, e));
    EXPECT_NE(e.message.find("JSON"), std::string::npos);
    // The command id of a rejected message is kept for the error event.
    EXPECT_FALSE(decode_client_message(with("top_p", 2).dump(), m, e));
    EXPECT_EQ(e.command_id, "c");
}

TEST(RunnerProtocol, EventsCarryVersionTypeAndId) {
    const json start = json::parse(start_event("c", 5));
    EXPECT_EQ(start, json({{"v", 1}, {"type", "start"}, {"command_id", "c"}, {"prompt_tokens", 5}}));
    std::string buf;
    delta_event("c", "a\"b\n", buf);
    EXPECT_EQ(json::parse(buf), json({{"v", 1}, {"type", "delta"}, {"command_id", "c"}, {"text", "a\"b\n"}}));
    const json done = json::parse(done_event("c", "length", 3, 4));
    EXPECT_EQ(done.at("usage"), json({{"prompt_tokens", 3}, {"completion_tokens", 4}}));
    const json err = json::parse(error_event("c", 400, "context_length_exceeded", "too long"));
    EXPECT_EQ(err.at("retryable"), false);
    EXPECT_EQ(err.at("status"), 400);
    EXPECT_EQ(json::parse(error_event("c", 500, "engine_error", "x")).at("retryable"), true);
    EXPECT_EQ(json::parse(pong_event(false)), json({{"v", 1}, {"type", "pong"}, {"ready", false}}));
    // The delta is written without a DOM: byte for byte what the DOM's dump
    // writes, and invalid UTF-8 in generated text never breaks the frame.
    for (const std::string &text : {std::string("a\"b\n"), std::string("\xff"), std::string("x\xE2\x82"),
                                   std::string("caf\xC3\xA9 \x01"), std::string()}) {
        delta_event("cmd-1", text, buf);
        EXPECT_EQ(buf, json({{"v", 1}, {"type", "delta"}, {"command_id", "cmd-1"}, {"text", text}})
                           .dump(-1, ' ', false, json::error_handler_t::replace));
        EXPECT_TRUE(json::accept(buf)) << buf;
    }
}

TEST(RunnerProtocol, DeltaEventAllocatesNothingOnceItsBufferIsWarm) {
    const std::string command_id = "cmd-0123456789abcdef01234567";
    std::string buf;
    delta_event(command_id, std::string(64, 'x'), buf); // warm: the longest event below
    const long before = skulk::testing::heap_allocations();
    for (const char *text : {"Once", " upon", " a\n", "\"time\"", "caf\xC3\xA9", "\xE2\x82", ""})
        delta_event(command_id, text, buf);
    EXPECT_EQ(skulk::testing::heap_allocations(), before);
}

} // namespace
} // namespace skulk::runner
