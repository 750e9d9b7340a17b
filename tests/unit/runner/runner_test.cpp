// skulk-runner's protocol and lifecycle: greedy output equals skulk-generate,
// stop strings across token boundaries, max_tokens, the context check,
// cancellation and slot reuse, bad messages, status lines, clean stops.
#include "unit/runner/runner_harness.hpp"

#include "gguf/gguf.hpp"
#include "gguf/hparams.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <cstdio>

namespace skulk::test {
namespace {

using namespace std::chrono;
using nlohmann::json;


// stories260K's end-of-sequence token is 2 (llama SPM); banning it keeps a
// stream running for exactly max_tokens.
json endless(const std::string &prompt, int max_tokens) {
    json r = completion(prompt, max_tokens);
    r["logit_bias"] = {{"2", -100.0}};
    return r;
}

TEST(Runner, GreedyCompletionMatchesSkulkGenerate) {
    RunnerProcess runner;
    ASSERT_TRUE(runner.wait_status("ready", kReady)) << runner.log();
    RunnerClient client(runner.endpoint());
    client.generate("c1", completion("Once upon a time", 32));
    client.wait_all({"c1"}, kRun);
    const Outcome &o = client.outcome("c1");
    ASSERT_EQ(o.terminal, "done") << o.last.dump();
    EXPECT_EQ(o.events.front().body.at("type"), "start");
    const int n_prompt = o.events.front().body.at("prompt_tokens").get<int>();
    EXPECT_GT(n_prompt, 1);
    const std::string expected = generate_greedy("Once upon a time", 32);
    ASSERT_FALSE(expected.empty());
    EXPECT_EQ(o.text, expected);
    const int n_gen = o.last.at("usage").at("completion_tokens").get<int>();
    EXPECT_EQ(o.last.at("usage").at("prompt_tokens").get<int>(), n_prompt);
    EXPECT_EQ(o.last.at("finish_reason"), n_gen == 32 ? "length" : "stop");
}

TEST(Runner, StopStringAcrossTokenBoundaries) {
    RunnerProcess runner;
    ASSERT_TRUE(runner.wait_status("ready", kReady)) << runner.log();
    RunnerClient client(runner.endpoint());
    client.generate("free", endless("Once upon a time", 48));
    client.wait_all({"free"}, kRun);
    const Outcome &free = client.outcome("free");
    ASSERT_EQ(free.terminal, "done");
    // A stop string made of the end of one token's text and the start of the next.
    std::vector<std::string> deltas;
    for (const auto &e : free.events)
        if (e.body.at("type") == "delta") deltas.push_back(e.body.at("text"));
    std::string stop;
    for (size_t i = 3; i + 1 < deltas.size() && stop.empty(); ++i)
        if (deltas[i].size() >= 2 && deltas[i + 1].size() >= 2)
            stop = deltas[i].substr(deltas[i].size() - 2) + deltas[i + 1].substr(0, 2);
    ASSERT_FALSE(stop.empty()) << free.text;
    const size_t at = free.text.find(stop);
    ASSERT_NE(at, std::string::npos);

    json r = endless("Once upon a time", 48);
    r["stop"] = {"zzzz-never", stop};
    client.generate("stopped", r);
    client.wait_all({"stopped"}, kRun);
    const Outcome &o = client.outcome("stopped");
    ASSERT_EQ(o.terminal, "done");
    EXPECT_EQ(o.last.at("finish_reason"), "stop");
    EXPECT_EQ(o.text, free.text.substr(0, at)) << "stop '" << stop << "'";
    EXPECT_EQ(o.text.find(stop), std::string::npos);
}

TEST(Runner, MaxTokensEndsWithLength) {
    RunnerProcess runner;
    ASSERT_TRUE(runner.wait_status("ready", kReady)) << runner.log();
    RunnerClient client(runner.endpoint());
    client.generate("m", endless("Once upon a time", 5));
    client.wait_all({"m"}, kRun);
    const Outcome &o = client.outcome("m");
    ASSERT_EQ(o.terminal, "done");
    EXPECT_EQ(o.last.at("finish_reason"), "length");
    EXPECT_EQ(o.last.at("usage").at("completion_tokens"), 5);
    EXPECT_FALSE(o.text.empty());
}

TEST(Runner, WithoutMaxTokensAStreamEndsWhenTheContextIsFull) {
    RunnerProcess runner({}, 64);
    ASSERT_TRUE(runner.wait_status("ready", kReady)) << runner.log();
    RunnerClient client(runner.endpoint());
    json r = endless("Once upon a time", 1);
    r.erase("max_tokens");
    client.generate("full", r);
    client.wait_all({"full"}, kRun);
    const Outcome &o = client.outcome("full");
    ASSERT_EQ(o.terminal, "done") << o.last.dump();
    EXPECT_EQ(o.last.at("finish_reason"), "length");
    const int n_prompt = o.last.at("usage").at("prompt_tokens").get<int>();
    EXPECT_EQ(n_prompt + o.last.at("usage").at("completion_tokens").get<int>(), 64);
}

TEST(Runner, ContextExceededIsA400BeforeAnyOutput) {
    RunnerProcess runner({}, 64);
    ASSERT_TRUE(runner.wait_status("ready", kReady)) << runner.log();
    RunnerClient client(runner.endpoint());
    client.generate("big", completion("Once upon a time", 64)); // prompt + 64 > 64
    std::string long_prompt;
    for (int i = 0; i < 40; ++i) long_prompt += "Once upon a time ";
    json no_max = completion(long_prompt, 1);
    no_max.erase("max_tokens"); // the prompt alone fills the context
    client.generate("long", no_max);
    client.wait_all({"big", "long"}, kRun);
    for (const char *id : {"big", "long"}) {
        const Outcome &o = client.outcome(id);
        ASSERT_EQ(o.events.size(), 1u) << id;
        EXPECT_EQ(o.terminal, "error");
        EXPECT_EQ(o.last.at("status"), 400);
        EXPECT_EQ(o.last.at("code"), "context_length_exceeded");
        EXPECT_EQ(o.last.at("retryable"), false);
        EXPECT_NE(o.last.at("message").get<std::string>().find("64 tokens"), std::string::npos) << o.last.dump();
    }
    // A request that fits is still served.
    client.generate("ok", completion("Once upon a time", 8));
    client.wait_all({"ok"}, kRun);
    EXPECT_EQ(client.outcome("ok").terminal, "done");
}

TEST(Runner, ContextDefaultsToTheModels) {
    const auto file = model::GgufFile::open(stories_model());
    const uint32_t train = model::read_hparams(*file).n_ctx_train;
    ASSERT_GT(train, 0u);
    const uint32_t expected = std::min<uint32_t>(train, 4096);
    RunnerProcess runner({}, 0);
    ASSERT_TRUE(runner.wait_status("ready", kReady)) << runner.log();
    RunnerClient client(runner.endpoint());
    client.generate("fits", completion("Once upon a time", static_cast<int>(expected) - 8));
    client.generate("over", completion("Once upon a time", static_cast<int>(expected)));
    client.wait_all({"fits", "over"}, kRun);
    EXPECT_EQ(client.outcome("fits").events.front().body.at("type"), "start") << client.outcome("fits").last.dump();
    client.cancel("fits");
    EXPECT_EQ(client.outcome("over").last.at("code"), "context_length_exceeded");
    EXPECT_NE(client.outcome("over").last.at("message").get<std::string>().find(
                  "maximum context length is " + std::to_string(expected) + " tokens"),
              std::string::npos)
        << client.outcome("over").last.dump();
}

TEST(Runner, CancelMidGenerationFreesTheSlot) {
    RunnerProcess runner({"--n-seq-max", "1"});
    ASSERT_TRUE(runner.wait_status("ready", kReady)) << runner.log();
    RunnerClient client(runner.endpoint());
    client.generate("long", endless("Once upon a time", 480));
    client.generate("queued", completion("Once upon a time", 16)); // waits for the only slot
    ASSERT_TRUE(client.wait_for("long", [](const Outcome &o) { return !o.text.empty() || !o.terminal.empty(); }, kRun));
    client.cancel("long");
    client.wait_all({"long", "queued"}, kRun);
    const Outcome &o = client.outcome("long");
    ASSERT_EQ(o.terminal, "done") << o.last.dump();
    EXPECT_EQ(o.last.at("finish_reason"), "cancelled");
    EXPECT_LT(o.last.at("usage").at("completion_tokens").get<int>(), 480);
    // The queued request got the freed slot, with a clean KV state.
    const Outcome &q = client.outcome("queued");
    ASSERT_EQ(q.terminal, "done") << q.last.dump();
    EXPECT_EQ(q.text, generate_greedy("Once upon a time", 16));

    // Cancelling a queued request ends it without output.
    client.generate("a", endless("Once upon a time", 400));
    client.generate("b", completion("Once upon a time", 16));
    ASSERT_TRUE(client.wait_for("b", [](const Outcome &o) { return o.started; }, kRun));
    client.cancel("b");
    client.cancel("a");
    client.wait_all({"a", "b"}, kRun);
    EXPECT_EQ(client.outcome("b").last.value("finish_reason", ""), "cancelled");
    EXPECT_EQ(client.outcome("b").last.at("usage").at("completion_tokens"), 0);
}

TEST(Runner, QueuedRequestsHearKeepalives) {
    RunnerProcess runner({"--n-seq-max", "1", "--keepalive-ms", "50"}, 2048);
    ASSERT_TRUE(runner.wait_status("ready", kReady)) << runner.log();
    RunnerClient client(runner.endpoint());
    client.generate("busy", endless("Once upon a time", 2000));
    ASSERT_TRUE(client.wait_for("busy", [](const Outcome &o) { return !o.text.empty(); }, kRun));
    client.generate("queued", completion("Once upon a time", 8));
    auto keepalives = [](const Outcome &o) {
        return std::count_if(o.events.begin(), o.events.end(), [](const Event &e) { return e.body.at("type") == "keepalive"; });
    };
    EXPECT_TRUE(client.wait_for("queued", [&](const Outcome &o) { return keepalives(o) >= 3 || !o.terminal.empty(); }, kRun));
    client.cancel("busy");
    client.wait_all({"busy", "queued"}, kRun);
    const Outcome &q = client.outcome("queued");
    ASSERT_EQ(q.terminal, "done");
    EXPECT_GE(keepalives(q), 3);
    // start, keepalives while queued, then output: no keepalive after the first delta.
    EXPECT_EQ(q.events.front().body.at("type"), "start");
    bool seen_delta = false;
    for (const auto &e : q.events) {
        if (e.body.at("type") == "delta") seen_delta = true;
        if (seen_delta) {
            EXPECT_NE(e.body.at("type"), "keepalive");
        }
    }
    EXPECT_EQ(q.text, generate_greedy("Once upon a time", 8));
}

TEST(Runner, ClientGoneCancelsItsRequests) {
    RunnerProcess runner({"--n-seq-max", "1"}, 4096);
    ASSERT_TRUE(runner.wait_status("ready", kReady)) << runner.log();
    {
        RunnerClient gone(runner.endpoint());
        gone.generate("g", endless("Once upon a time", 4000));
        ASSERT_TRUE(gone.wait_for("g", [](const Outcome &o) { return !o.text.empty(); }, kRun));
    } // the DEALER closes mid-stream
    // With one slot, the next request is served once the abandoned one was
    // cancelled, which the runner logs.
    RunnerClient client(runner.endpoint());
    client.generate("next", completion("Once upon a time", 8));
    client.wait_all({"next"}, kRun);
    EXPECT_EQ(client.outcome("next").terminal, "done");
    EXPECT_NE(runner.log().find("g: the client is gone; cancelled"), std::string::npos) << runner.log();
}

TEST(Runner, BadMessagesGetErrors) {
    RunnerProcess runner;
    ASSERT_TRUE(runner.wait_status("ready", kReady)) << runner.log();
    RunnerClient client(runner.endpoint());
    client.send({{"v", 1}, {"op", "ping"}});
    auto pong = client.next(kRun);
    ASSERT_TRUE(pong);
    EXPECT_EQ((*pong)["type"], "pong");
    EXPECT_EQ((*pong)["ready"], true);

    client.send({{"v", 2}, {"op", "generate"}, {"command_id", "v2"}, {"request", completion("hi", 4)}});
    client.wait_all({"v2"}, kRun);
    EXPECT_EQ(client.outcome("v2").terminal, "error");
    EXPECT_EQ(client.outcome("v2").last.at("status"), 400);
    EXPECT_NE(client.outcome("v2").last.at("message").get<std::string>().find("version"), std::string::npos);

    client.send({{"v", 1}, {"op", "generate"}, {"command_id", "bad"}, {"request", {{"kind", "completion"}}}});
    client.wait_all({"bad"}, kRun);
    EXPECT_EQ(client.outcome("bad").last.at("code"), "invalid_request_error");
    EXPECT_NE(client.outcome("bad").last.at("message").get<std::string>().find("request.prompt"), std::string::npos);

    json chat = {{"kind", "chat"}, {"model", "m"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"stream", true}};
    client.generate("chat", chat); // stories260K has no chat template
    client.wait_all({"chat"}, kRun);
    EXPECT_EQ(client.outcome("chat").last.at("status"), 400);

    client.send(json::parse(R"({"v":1,"op":"dance","command_id":"op"})"));
    client.wait_all({"op"}, kRun);
    EXPECT_EQ(client.outcome("op").last.at("status"), 400);

    client.send_raw("not json at all");
    auto err = client.next(kRun);
    ASSERT_TRUE(err);
    EXPECT_EQ((*err)["type"], "error");
    EXPECT_EQ((*err)["status"], 400);
}

TEST(Runner, ChatTemplateFileRendersChatRequests) {
    // A minimal template; the prompt it renders must equal the completion
    // prompt that produces the same greedy text.
    char path[] = "/tmp/skulk-runner-template-XXXXXX";
    const int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    const std::string tmpl = "{% for m in messages %}{{ m['content'] }}{% endfor %}";
    ASSERT_EQ(write(fd, tmpl.data(), tmpl.size()), static_cast<ssize_t>(tmpl.size()));
    close(fd);
    RunnerProcess runner({"--chat-template-file", path});
    ASSERT_TRUE(runner.wait_status("ready", kReady)) << runner.log();
    RunnerClient client(runner.endpoint());
    json chat = {{"kind", "chat"}, {"model", "m"}, {"messages", {{{"role", "user"}, {"content", "Once upon a time"}}}},
                 {"stream", true}, {"max_tokens", 16}, {"temperature", 0}};
    client.generate("chat", chat);
    client.wait_all({"chat"}, kRun);
    unlink(path);
    ASSERT_EQ(client.outcome("chat").terminal, "done") << client.outcome("chat").last.dump();
    EXPECT_EQ(client.outcome("chat").text, generate_greedy("Once upon a time", 16));
}

TEST(Runner, StatusLinesAndSigtermWithinOneSecond) {
    RunnerProcess runner;
    ASSERT_TRUE(runner.wait_status("ready", kReady)) << runner.log();
    const auto &lines = runner.status_lines();
    ASSERT_GE(lines.size(), 3u);
    EXPECT_EQ(lines.front(), "loading 0/5");
    EXPECT_NE(std::find(lines.begin(), lines.end(), "warming_up"), lines.end());
    EXPECT_EQ(lines.back(), "ready");
    // Stopped mid-stream: the stream ends with a retryable error.
    RunnerClient client(runner.endpoint());
    client.generate("s", endless("Once upon a time", 480));
    ASSERT_TRUE(client.wait_for("s", [](const Outcome &o) { return !o.text.empty(); }, kRun));
    const auto t0 = steady_clock::now();
    runner.signal(SIGTERM);
    EXPECT_EQ(runner.wait_exit(seconds(5)), 0) << runner.log();
    const auto took = steady_clock::now() - t0;
    std::printf("SIGTERM mid-stream -> exit in %.1f ms\n", duration<double, std::milli>(took).count());
    EXPECT_LT(took, seconds(1));
    client.wait_all({"s"}, seconds(5));
    if (client.outcome("s").terminal == "error") {
        EXPECT_EQ(client.outcome("s").last.at("retryable"), true);
    }
}

TEST(Runner, ShutdownOnStdin) {
    RunnerProcess runner;
    ASSERT_TRUE(runner.wait_status("ready", kReady)) << runner.log();
    runner.send_stdin("shutdown\n");
    EXPECT_EQ(runner.wait_exit(seconds(5)), 0) << runner.log();
}

TEST(Runner, BadCommandLinesAreExplained) {
    {
        RunnerProcess runner({"--n-seq-max", "0"});
        EXPECT_EQ(runner.wait_exit(seconds(20)), 2);
        EXPECT_NE(runner.log().find("--n-seq-max"), std::string::npos) << runner.log();
    }
    {
        RunnerProcess runner({"--chat-template-file", "/nonexistent/t.jinja"});
        EXPECT_EQ(runner.wait_exit(seconds(20)), 2);
        EXPECT_NE(runner.log().find("/nonexistent/t.jinja"), std::string::npos) << runner.log();
    }
    {
        RunnerProcess runner({"--backend", "no_such-backend"});
        EXPECT_FALSE(runner.wait_status("ready", seconds(20)));
        EXPECT_EQ(runner.wait_exit(seconds(20)), 1);
        ASSERT_FALSE(runner.status_lines().empty());
        EXPECT_EQ(runner.status_lines().back().rfind("failed --backend no_such-backend", 0), 0u)
            << runner.status_lines().back();
    }
}

} // namespace
} // namespace skulk::test
