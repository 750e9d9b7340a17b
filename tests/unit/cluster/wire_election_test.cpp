// Wire envelopes round-trip and refuse other versions; the election state machine.
#include "common/curve.hpp"
#include "cluster/election.hpp"
#include "cluster/node.hpp"
#include "cluster/wire.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace skulk;
using namespace skulk::cluster;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

TEST(Wire, EventRoundTrips) {
    state::Instance inst{"i1", "llama", "Pipeline", {state::ShardAssignment{"n1", 0, 2, 0, 11, "cpu_blas-cpu"},
                                                     state::ShardAssignment{"n2", 1, 2, 12, -1, "vulkan-gpu"}}, 4096};
    const state::Event e{3, 17, state::InstanceCreated{inst}};
    const auto d = decode(encode(Envelope{kWireVersion, "ns", "n1", e}));
    ASSERT_TRUE(d.ok) << d.error;
    EXPECT_EQ(d.env.ns, "ns");
    EXPECT_EQ(std::get<state::Event>(d.env.body), e);

    state::Event back;
    std::string err;
    ASSERT_TRUE(decode_event(encode_event(e), back, err)) << err;
    EXPECT_EQ(back, e);
}

TEST(Wire, CommandAndSnapshotRoundTrip) {
    state::Command c{"cmd1", "n1", state::PlaceInstance{"m", {"a", "b"}, "Tensor"}};
    auto d = decode(encode(Envelope{kWireVersion, "", "n1", CommandRequest{c}}));
    ASSERT_TRUE(d.ok) << d.error;
    const auto &got = std::get<CommandRequest>(d.env.body).command;
    EXPECT_EQ(got.command_id, "cmd1");
    EXPECT_EQ(std::get<state::PlaceInstance>(got.body).node_ids, (std::vector<std::string>{"a", "b"}));

    state::State s;
    s.term = 2;
    s.last_event_applied_idx = 9;
    s.nodes["a"] = {"a", "tcp://1.2.3.4:5"};
    s.tasks["t"] = state::Task{"t", "i", "c", state::TaskStatus::Running, ""};
    s.runners["r"] = state::RunnerStatus{"r", "i", "a", state::RunnerPhase::Loading, 3, 10, ""};
    d = decode(encode(Envelope{kWireVersion, "", "n1", SnapshotReply{s}}));
    ASSERT_TRUE(d.ok) << d.error;
    EXPECT_EQ(std::get<SnapshotReply>(d.env.body).state, s);
}

TEST(Wire, CommandRepliesCarryTheirRefusalAndOlderOnesReadAsNone) {
    CommandReply r;
    r.command_id = "c9";
    r.error = "no instance x";
    r.refusal = state::Refusal::not_found;
    auto d = decode(encode(Envelope{kWireVersion, "", "n1", r}));
    ASSERT_TRUE(d.ok) << d.error;
    EXPECT_EQ(std::get<CommandReply>(d.env.body).refusal, state::Refusal::not_found);

    auto j = nlohmann::json::parse(encode(Envelope{kWireVersion, "", "n1", r}));
    j["body"].erase("refusal"); // a node from before the field
    d = decode(j.dump());
    ASSERT_TRUE(d.ok) << d.error;
    EXPECT_EQ(std::get<CommandReply>(d.env.body).refusal, state::Refusal::none);
    j["body"]["refusal"] = "something-new"; // a newer node's kind: the safe answer
    d = decode(j.dump());
    ASSERT_TRUE(d.ok) << d.error;
    EXPECT_EQ(std::get<CommandReply>(d.env.body).refusal, state::Refusal::invalid);
}

TEST(Wire, OtherVersionIsRefusedWithReason) {
    auto j = nlohmann::json::parse(encode(Envelope{kWireVersion, "", "n1", Hello{7}}));
    j["v"] = kWireVersion + 1;
    const auto d = decode(j.dump());
    EXPECT_FALSE(d.ok);
    EXPECT_TRUE(d.version_mismatch);
    EXPECT_NE(d.error.find(std::to_string(kWireVersion + 1)), std::string::npos);
    EXPECT_FALSE(decode("not json").ok);
    EXPECT_FALSE(decode(R"({"v":1,"ns":"","from":"x","type":"nope","body":{}})").ok);
}

TEST(Curve, SameSecretSameKeysDifferentSecretDifferentKeys) {
    const auto a = derive_curve_keys("s3cret"), b = derive_curve_keys("s3cret"), c = derive_curve_keys("other");
    EXPECT_EQ(a.public_z85, b.public_z85);
    EXPECT_EQ(a.secret_z85, b.secret_z85);
    EXPECT_NE(a.public_z85, c.public_z85);
    EXPECT_EQ(a.public_z85.size(), 40u);
}

namespace {
// Three election machines wired by hand: every message reaches every other.
struct Net {
    std::map<std::string, std::unique_ptr<Election>> nodes;
    void deliver(const std::string &from, const std::vector<ElectionMsg> &msgs, Clock::time_point now,
                 const std::set<std::string> &up) {
        for (const auto &m : msgs)
            for (auto &[id, e] : nodes)
                if (id != from && up.count(id)) deliver(id, e->on_message(from, m, now), now, up);
    }
    void step(Clock::time_point now, const std::set<std::string> &up) {
        for (auto &[id, e] : nodes) {
            if (!up.count(id)) continue;
            std::set<std::string> alive = up;
            alive.erase(id);
            deliver(id, e->tick(now, alive), now, up);
        }
    }
};
} // namespace

TEST(Election, SimultaneousStartElectsExactlyTheHighestKeyOnce) {
    const auto t0 = Clock::now();
    Net net;
    for (const char *id : {"n1", "n3", "n2"}) net.nodes[id] = std::make_unique<Election>(id, false, Election::Config{}, t0);
    const std::set<std::string> up{"n1", "n2", "n3"};
    for (int ms = 0; ms <= 2000; ms += 50) net.step(t0 + std::chrono::milliseconds(ms), up);
    for (auto &[id, e] : net.nodes) {
        EXPECT_EQ(e->master(), "n3") << id;
        EXPECT_EQ(e->term(), 1u) << id;
    }
    // Master dies: the next highest takes over with a newer term.
    std::set<std::string> rest{"n1", "n2"};
    for (int ms = 2050; ms <= 4000; ms += 50) net.step(t0 + std::chrono::milliseconds(ms), rest);
    EXPECT_EQ(net.nodes["n1"]->master(), "n2");
    EXPECT_EQ(net.nodes["n2"]->master(), "n2");
    EXPECT_EQ(net.nodes["n2"]->term(), 2u);
}

TEST(Election, ForcedNodeWinsOverHigherIds) {
    const auto t0 = Clock::now();
    Net net;
    net.nodes["a"] = std::make_unique<Election>("a", true, Election::Config{}, t0);
    net.nodes["z"] = std::make_unique<Election>("z", false, Election::Config{}, t0);
    const std::set<std::string> up{"a", "z"};
    for (int ms = 0; ms <= 5000; ms += 50) net.step(t0 + std::chrono::milliseconds(ms), up);
    EXPECT_EQ(net.nodes["a"]->master(), "a");
    EXPECT_EQ(net.nodes["z"]->master(), "a");
}

// A node that hears no peer within `settle` wins alone, and its coordinator
// reaches no one: two masters of term 1. When their heartbeats meet, the
// higher key moves to term 2 and the other follows it.
TEST(Election, TwoMastersOfOneTermThatMeetLaterAgreeOnOne) {
    const auto t0 = Clock::now();
    Election a("a", false, Election::Config{}, t0), b("b", false, Election::Config{}, t0);
    for (int ms = 0; ms <= 1000; ms += 50) {
        (void)a.tick(t0 + std::chrono::milliseconds(ms), {});
        (void)b.tick(t0 + std::chrono::milliseconds(ms), {});
    }
    ASSERT_TRUE(a.is_master());
    ASSERT_TRUE(b.is_master());
    ASSERT_EQ(a.term(), b.term());

    auto heartbeat_of = [](const Election &e) {
        Heartbeat hb;
        hb.key = e.key();
        hb.master_id = e.master();
        hb.master_term = e.term();
        return hb;
    };
    const auto now = t0 + 1100ms;
    for (int round = 0; round < 3; ++round) { // heartbeats both ways, and what they set off
        for (const auto &m : a.on_heartbeat("b", heartbeat_of(b), {"b"})) (void)b.on_message("a", m, now);
        for (const auto &m : b.on_heartbeat("a", heartbeat_of(a), {"a"})) (void)a.on_message("b", m, now);
    }
    EXPECT_EQ(a.master(), "b");
    EXPECT_EQ(b.master(), "b");
    EXPECT_EQ(a.term(), 2u);
    EXPECT_EQ(b.term(), 2u);
}

TEST(NodeOptions, EnvironmentOverridesAreValidatedAndNamed) {
    NodeOptions o;
    ::setenv("SKULK_NODE_TIMEOUT_SECONDS", "5", 1);
    ::setenv("SKULK_BEACONS", "0", 1);
    EXPECT_EQ(apply_env_overrides(o), "");
    EXPECT_EQ(o.node_timeout, std::chrono::seconds(5));
    EXPECT_FALSE(o.beacons);
    ::setenv("SKULK_NODE_TIMEOUT_SECONDS", "soon", 1);
    const auto err = apply_env_overrides(o);
    EXPECT_NE(err.find("SKULK_NODE_TIMEOUT_SECONDS"), std::string::npos) << err;
    EXPECT_NE(err.find("soon"), std::string::npos) << err;
    ::unsetenv("SKULK_NODE_TIMEOUT_SECONDS");
    ::setenv("SKULK_BEACONS", "maybe", 1);
    EXPECT_NE(apply_env_overrides(o).find("SKULK_BEACONS"), std::string::npos);
    ::unsetenv("SKULK_BEACONS");
}

TEST(Wire, CustomCardsTravelInEventsCommandsAndSnapshots) {
    const state::CustomCard card{"org/m", "model_id = \"org/m\"\n"};
    for (const state::EventBody &b : {state::EventBody{state::CustomModelCardAdded{card}},
                                      state::EventBody{state::CustomModelCardDeleted{"org/m"}},
                                      state::EventBody{state::SessionStarted{"n1", {}, {card}}}}) {
        const state::Event e{2, 5, b};
        state::Event back;
        std::string err;
        ASSERT_TRUE(decode_event(encode_event(e), back, err)) << err;
        EXPECT_EQ(back, e);
    }
    state::Command c{"cmd2", "n1", state::AddCustomModelCard{card}};
    auto d = decode(encode(Envelope{kWireVersion, "", "n1", CommandRequest{c}}));
    ASSERT_TRUE(d.ok) << d.error;
    EXPECT_EQ(std::get<state::AddCustomModelCard>(std::get<CommandRequest>(d.env.body).command.body).card, card);

    state::State s;
    s.custom_cards[card.model_id] = card;
    d = decode(encode(Envelope{kWireVersion, "", "n1", SnapshotReply{s}}));
    ASSERT_TRUE(d.ok) << d.error;
    EXPECT_EQ(std::get<SnapshotReply>(d.env.body).state, s);
}

TEST(Wire, RecordsOfOlderNodesWithoutCustomCardsStillDecode) {
    // An event-log record and a snapshot written before custom cards existed.
    state::Event e;
    std::string err;
    ASSERT_TRUE(decode_event(R"({"term":1,"idx":0,"event":{"type":"SessionStarted","data":{"master_node_id":"a","carried_instances":[]}}})",
                             e, err)) << err;
    EXPECT_TRUE(std::get<state::SessionStarted>(e.body).carried_custom_cards.empty());
    const auto d = decode(R"({"v":1,"ns":"","from":"a","type":"snapshot","body":{"state":{"term":1,"master_node_id":"a",)"
                          R"("last_event_applied_idx":3,"nodes":{},"instances":{},"runners":{},"tasks":{}}}})");
    ASSERT_TRUE(d.ok) << d.error;
    EXPECT_TRUE(std::get<SnapshotReply>(d.env.body).state.custom_cards.empty());
}

TEST(Wire, SelfHealingFieldsTravelAndDefaultWhenAbsent) {
    state::Instance inst{"i1", "llama", "Pipeline", {state::ShardAssignment{"n1", 0, 1, 0, -1, "cpu"}}, 512, false};
    for (const state::EventBody &b : {state::EventBody{state::InstanceCreated{inst, "old"}},
                                      state::EventBody{state::InstanceDeleted{"i1", "why", true}},
                                      state::EventBody{state::SessionStarted{"n1", {}, {}, {inst}}}}) {
        const state::Event e{2, 5, b};
        state::Event back;
        std::string err;
        ASSERT_TRUE(decode_event(encode_event(e), back, err)) << err;
        EXPECT_EQ(back, e);
    }
    state::PlaceInstance p{"m", {}, "Pipeline"};
    p.self_heal = false;
    p.replaces = "old";
    auto d = decode(encode(Envelope{kWireVersion, "", "n1", CommandRequest{state::Command{"c", "n1", p}}}));
    ASSERT_TRUE(d.ok) << d.error;
    const auto &got = std::get<state::PlaceInstance>(std::get<CommandRequest>(d.env.body).command.body);
    EXPECT_FALSE(got.self_heal);
    EXPECT_EQ(got.replaces, "old");
    d = decode(encode(Envelope{kWireVersion, "", "n1",
                               CommandRequest{state::Command{"c", "n1", state::DeleteInstance{"i1", true, "r"}}}}));
    ASSERT_TRUE(d.ok) << d.error;
    EXPECT_TRUE(std::get<state::DeleteInstance>(std::get<CommandRequest>(d.env.body).command.body).failed);
    state::State s;
    s.replacing["i1"] = inst;
    d = decode(encode(Envelope{kWireVersion, "", "n1", SnapshotReply{s}}));
    ASSERT_TRUE(d.ok) << d.error;
    EXPECT_EQ(std::get<SnapshotReply>(d.env.body).state, s);

    // A record of an older node: no self_heal (on by default), no replace flag.
    state::Event e;
    std::string err;
    ASSERT_TRUE(decode_event(R"({"term":1,"idx":1,"event":{"type":"InstanceCreated","data":{"instance":{"id":"i","model_id":"m",)"
                             R"("sharding":"Pipeline","shards":[],"context_token_limit":0}}}})",
                             e, err)) << err;
    EXPECT_TRUE(std::get<state::InstanceCreated>(e.body).instance.self_heal);
    ASSERT_TRUE(decode_event(R"({"term":1,"idx":2,"event":{"type":"InstanceDeleted","data":{"instance_id":"i","reason":"r"}}})",
                             e, err)) << err;
    EXPECT_FALSE(std::get<state::InstanceDeleted>(e.body).replace);
}

TEST(Wire, FloatingPointNumbersAreRefused) {
    // nlohmann's float -> integer conversion is undefined out of range (found by fuzz_wire_input).
    for (const char *m : {R"({"v":1.0,"ns":"","from":"a","type":"hello","body":{"port":1}})",
                          R"({"v":1,"ns":"","from":"a","type":"hello","body":{"port":1e10}})",
                          R"({"v":8888888888888888888888888881,"ns":"","from":"a","type":"hello","body":{"port":1}})"}) {
        const auto d = decode(m);
        EXPECT_FALSE(d.ok) << m;
        EXPECT_NE(d.error.find("floating-point"), std::string::npos) << d.error;
    }
    skulk::state::Event e;
    std::string error;
    EXPECT_FALSE(decode_event(R"({"term":1.5,"idx":0,"event":{"type":"NodeLeft","data":{"node_id":"a"}}})", e, error));
    EXPECT_TRUE(decode(R"({"v":1,"ns":"","from":"a","type":"hello","body":{"port":1}})").ok);
}
