// Continuous batching in a real skulk-runner: concurrent requests produce
// what they produce alone, seeded sampling repeats, and a long prompt's
// prefill (in chunks) does not stall the streams that are decoding.
#include "unit/runner/runner_harness.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>

namespace skulk::test {
namespace {

using namespace std::chrono;
using nlohmann::json;


const std::vector<std::string> kPrompts = {
    "Once upon a time",       "The little dog",          "One day, a girl named Lily", "Tom and Sue went to",
    "The sun was",            "In the park",             "A big red ball",             "Mom said",
    "There was a cat",        "The bird flew",           "Ben liked to",               "It was a sunny day",
    "The old man",            "She found a",             "They played with",           "At night, the moon",
};

TEST(RunnerBatching, ConcurrentGreedyEqualsSingle) {
    RunnerProcess runner;
    ASSERT_TRUE(runner.wait_status("ready", kReady)) << runner.log();
    RunnerClient client(runner.endpoint());
    std::vector<std::string> alone(kPrompts.size());
    for (size_t i = 0; i < kPrompts.size(); ++i) {
        const std::string id = "alone-" + std::to_string(i);
        client.generate(id, completion(kPrompts[i], 24));
        client.wait_all({id}, kRun);
        ASSERT_EQ(client.outcome(id).terminal, "done") << client.outcome(id).last.dump();
        alone[i] = client.outcome(id).text;
    }
    std::vector<std::string> ids;
    for (size_t i = 0; i < kPrompts.size(); ++i) {
        ids.push_back("together-" + std::to_string(i));
        client.generate(ids.back(), completion(kPrompts[i], 24));
    }
    client.wait_all(ids, kRun);
    for (size_t i = 0; i < kPrompts.size(); ++i) {
        const Outcome &o = client.outcome(ids[i]);
        ASSERT_EQ(o.terminal, "done") << o.last.dump();
        EXPECT_EQ(o.text, alone[i]) << "prompt " << i << ": " << kPrompts[i];
    }
    // Distinct prompts gave distinct outputs (the comparison means something).
    std::vector<std::string> sorted = alone;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_GT(std::unique(sorted.begin(), sorted.end()) - sorted.begin(), 8);
}

TEST(RunnerBatching, SameSeedSameTextConcurrently) {
    RunnerProcess runner;
    ASSERT_TRUE(runner.wait_status("ready", kReady)) << runner.log();
    RunnerClient client(runner.endpoint());
    json r = completion("Once upon a time", 40, 0.8);
    r["seed"] = 1234;
    json other = r;
    other["seed"] = 99;
    client.generate("a", r);
    client.generate("b", r);
    client.generate("c", other);
    client.wait_all({"a", "b", "c"}, kRun);
    ASSERT_EQ(client.outcome("a").terminal, "done");
    ASSERT_EQ(client.outcome("b").terminal, "done");
    EXPECT_FALSE(client.outcome("a").text.empty());
    EXPECT_EQ(client.outcome("a").text, client.outcome("b").text);
    // Later and alone: the same again.
    client.generate("d", r);
    client.wait_all({"d"}, kRun);
    EXPECT_EQ(client.outcome("d").text, client.outcome("a").text);
}

TEST(RunnerBatching, LongPrefillDoesNotStallRunningStreams) {
    // 32-token prompt chunks: a ~400-token prompt takes ~13 steps, and each
    // step also advances every decoding stream by one token. The property is
    // about order, not time (a loaded machine stretches both alike): between
    // the long request's start and its first delta, every running stream
    // emits a delta per prefill chunk. Events come over one socket, so their
    // arrival order is the runner's send order.
    RunnerProcess runner({"--prefill-chunk", "32"});
    ASSERT_TRUE(runner.wait_status("ready", kReady)) << runner.log();
    RunnerClient client(runner.endpoint());
    std::vector<std::string> running;
    for (int i = 0; i < 4; ++i) {
        running.push_back("run-" + std::to_string(i));
        json r = completion(kPrompts[i], 480 - 16);
        r["logit_bias"] = {{"2", -100.0}}; // no end-of-sequence: they run through the prefill
        client.generate(running.back(), r);
    }
    for (const auto &id : running)
        ASSERT_TRUE(client.wait_for(id, [](const Outcome &o) { return !o.text.empty(); }, kRun));
    std::string long_prompt;
    while (long_prompt.size() < 1150) long_prompt += "The little dog ran to the park and played with a ball. ";
    client.generate("long", completion(long_prompt, 4));
    ASSERT_TRUE(client.wait_for("long", [](const Outcome &o) { return !o.text.empty() || !o.terminal.empty(); }, kRun));
    const Outcome &lo = client.outcome("long");
    ASSERT_TRUE(lo.started) << lo.last.dump();
    const int n_prompt = lo.events.front().body.at("prompt_tokens").get<int>();
    EXPECT_GE(n_prompt, 350);
    const uint64_t seq_start = lo.events.front().seq;
    const uint64_t seq_first = std::find_if(lo.events.begin(), lo.events.end(),
                                            [](const Event &e) { return e.body.at("type") == "delta"; })->seq;
    for (const auto &id : running) client.cancel(id);
    client.wait_all(running, kRun);
    client.wait_all({"long"}, kRun);

    const int chunks = (n_prompt + 31) / 32;
    for (const auto &id : running) {
        const Outcome &o = client.outcome(id);
        EXPECT_EQ(o.last.value("finish_reason", ""), "cancelled") << id << " ended early: " << o.last.dump();
        int during = 0;
        for (const auto &e : o.events)
            if (e.body.at("type") == "delta" && e.seq > seq_start && e.seq < seq_first) ++during;
        // One token per step while the prompt went through in chunks (the
        // first and last chunk may share a step with the start and the
        // first delta). A prefill that stalled the streams shows ~0 here.
        std::printf("%s: %d deltas during the %d-token prefill (%d chunks)\n", id.c_str(), during, n_prompt, chunks);
        EXPECT_GE(during, chunks - 2) << id << ": " << during << " deltas while " << chunks << " prompt chunks went through";
    }
}

} // namespace
} // namespace skulk::test
