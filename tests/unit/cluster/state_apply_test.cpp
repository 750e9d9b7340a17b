// apply() and the master's decisions, on plain values.
#include "master/master.hpp"
#include "state/apply.hpp"

#include <gtest/gtest.h>

using namespace skulk;
using namespace skulk::state;
using Clock = std::chrono::steady_clock;

namespace {

State run(const std::vector<EventBody> &bodies, uint64_t term = 1) {
    master::Indexer ix;
    ix.start(term);
    State s;
    for (const auto &b : bodies) s = apply(s, ix.next(b));
    return s;
}

Instance inst(const std::string &id, const std::vector<std::string> &nodes) {
    Instance i;
    i.id = id;
    i.model_id = "m-" + id;
    for (size_t r = 0; r < nodes.size(); ++r) i.shards.push_back(ShardAssignment{nodes[r], int(r), int(nodes.size()), 0, -1, ""});
    return i;
}

} // namespace

TEST(StateApply, SessionStartResetsEverythingButCarriedInstances) {
    State s = run({SessionStarted{"a", {}}, NodeJoined{{"a", "tcp://x:1"}}, InstanceCreated{inst("i1", {"a"})},
                   TaskCreated{Task{"t1", "i1", "c1", TaskStatus::Pending, ""}}});
    ASSERT_EQ(s.instances.size(), 1u);
    ASSERT_EQ(s.tasks.size(), 1u);
    std::vector<Instance> carried;
    for (auto &[k, v] : s.instances) carried.push_back(v);
    const State next = apply(s, Event{2, 0, SessionStarted{"b", carried}});
    EXPECT_EQ(next.term, 2u);
    EXPECT_EQ(next.master_node_id, "b");
    EXPECT_EQ(next.last_event_applied_idx, 0);
    EXPECT_EQ(next.instances, s.instances);
    EXPECT_TRUE(next.tasks.empty());
    EXPECT_TRUE(next.nodes.empty());
}

TEST(StateApply, IsPureAndDeterministic) {
    const std::vector<EventBody> evs{SessionStarted{"a", {}}, NodeJoined{{"a", "e"}}, NodeJoined{{"b", "f"}},
                                     InstanceCreated{inst("i1", {"a", "b"})},
                                     RunnerStatusUpdated{RunnerStatus{"r1", "i1", "b", RunnerPhase::Ready, 0, 0, ""}},
                                     TaskCreated{Task{"t1", "i1", "c", TaskStatus::Pending, ""}}, TaskFailed{"t1", "boom"}};
    const State a = run(evs), b = run(evs);
    EXPECT_EQ(a, b);
    EXPECT_EQ(a.last_event_applied_idx, int64_t(evs.size()) - 1);
    EXPECT_EQ(a.tasks.at("t1").status, TaskStatus::Failed);
    EXPECT_EQ(a.tasks.at("t1").error_message, "boom");
    // Deleting the instance takes its runners with it; a node leaving takes its runners.
    const State c = apply(a, Event{1, 7, InstanceDeleted{"i1", "x"}});
    EXPECT_TRUE(c.instances.empty());
    EXPECT_TRUE(c.runners.empty());
    EXPECT_EQ(a.runners.size(), 1u) << "apply must not modify its input";
}

TEST(Master, PlaceValidatesAndPicksLeastLoadedNode) {
    State s = run({SessionStarted{"a", {}}, NodeJoined{{"a", "e"}}, NodeJoined{{"b", "f"}},
                   InstanceCreated{inst("i1", {"a"})}});
    int n = 0;
    auto ids = [&] { return "new" + std::to_string(n++); };
    auto d = master::decide(s, Command{"c1", "a", PlaceInstance{"llama", {}, "Pipeline"}}, ids);
    ASSERT_TRUE(d.ok) << d.error;
    ASSERT_EQ(d.events.size(), 1u);
    const auto &created = std::get<InstanceCreated>(d.events[0]).instance;
    EXPECT_EQ(created.model_id, "llama");
    ASSERT_EQ(created.shards.size(), 1u);
    EXPECT_EQ(created.shards[0].node_id, "b"); // "a" already holds i1

    EXPECT_FALSE(master::decide(s, Command{"c2", "a", PlaceInstance{"", {}, "Pipeline"}}, ids).ok);
    auto bad_node = master::decide(s, Command{"c3", "a", PlaceInstance{"m", {"zzz"}, "Pipeline"}}, ids);
    EXPECT_FALSE(bad_node.ok);
    EXPECT_NE(bad_node.error.find("zzz"), std::string::npos);
    EXPECT_FALSE(master::decide(s, Command{"c4", "a", DeleteInstance{"nope"}}, ids).ok);
    EXPECT_FALSE(master::decide(State{}, Command{"c5", "a", PlaceInstance{"m", {}, "Pipeline"}}, ids).ok) << "no members yet";
}

TEST(Master, LivenessJoinsThenTimesOutAfterGraceFailingTasksFirst) {
    State s = run({SessionStarted{"a", {}}, NodeJoined{{"a", "e"}}, NodeJoined{{"b", "f"}},
                   InstanceCreated{inst("i1", {"b"})}, TaskCreated{Task{"t1", "i1", "c", TaskStatus::Pending, ""}}});
    const auto t0 = Clock::now();
    master::LivenessInput in;
    in.self = "a";
    in.session_started = t0;
    in.node_timeout = std::chrono::seconds(30);
    in.settle_grace = std::chrono::seconds(60);
    in.heard["a"] = {"e", t0 + std::chrono::seconds(100)};
    in.heard["b"] = {"f", t0};
    in.heard["c"] = {"g", t0 + std::chrono::seconds(100)};

    in.now = t0 + std::chrono::seconds(40); // b silent 40 s, but inside the grace
    auto evs = master::liveness(s, in);
    ASSERT_EQ(evs.size(), 1u);
    EXPECT_EQ(std::get<NodeJoined>(evs[0]).node.id, "c");

    in.now = t0 + std::chrono::seconds(100); // after the grace
    evs = master::liveness(s, in);
    ASSERT_EQ(evs.size(), 4u);
    EXPECT_TRUE(std::holds_alternative<NodeJoined>(evs[0]));
    EXPECT_EQ(std::get<TaskFailed>(evs[1]).task_id, "t1");
    EXPECT_NE(std::get<TaskFailed>(evs[1]).error_message.find("retried"), std::string::npos);
    EXPECT_EQ(std::get<InstanceDeleted>(evs[2]).instance_id, "i1");
    EXPECT_EQ(std::get<NodeTimedOut>(evs[3]).node_id, "b");
}

TEST(Master, LeaveDropsTheNodesInstances) {
    State s = run({SessionStarted{"a", {}}, NodeJoined{{"a", "e"}}, NodeJoined{{"b", "f"}},
                   InstanceCreated{inst("i1", {"b"})}, InstanceCreated{inst("i2", {"a"})}});
    const auto evs = master::leave(s, "b");
    ASSERT_EQ(evs.size(), 2u);
    EXPECT_EQ(std::get<InstanceDeleted>(evs[0]).instance_id, "i1");
    EXPECT_EQ(std::get<NodeLeft>(evs[1]).node_id, "b");
}

TEST(StateApply, CustomCardsAreAddedDeletedAndCarriedAcrossSessions) {
    const CustomCard a{"a", "model_id = \"a\"\n"}, b{"org/b", "model_id = \"org/b\"\n"};
    State s = run({SessionStarted{"n", {}}, CustomModelCardAdded{a}, CustomModelCardAdded{b}, CustomModelCardDeleted{"a"}});
    ASSERT_EQ(s.custom_cards.size(), 1u);
    EXPECT_EQ(s.custom_cards.at("org/b"), b);
    // A new session keeps only what its master carries.
    std::vector<CustomCard> carried;
    for (auto &[k, v] : s.custom_cards) carried.push_back(v);
    EXPECT_EQ(apply(s, Event{2, 0, SessionStarted{"m", {}, carried}}).custom_cards, s.custom_cards);
    EXPECT_TRUE(apply(s, Event{2, 0, SessionStarted{"m", {}}}).custom_cards.empty());
}

TEST(Master, CustomCardCommandsBecomeEvents) {
    const State s = run({SessionStarted{"n", {}}});
    auto id = [] { return std::string("x"); };
    auto d = master::decide(s, Command{"c1", "n", AddCustomModelCard{CustomCard{"m", "model_id = \"m\"\n"}}}, id);
    ASSERT_TRUE(d.ok) << d.error;
    ASSERT_EQ(d.events.size(), 1u);
    EXPECT_EQ(std::get<CustomModelCardAdded>(d.events[0]).card.model_id, "m");
    EXPECT_FALSE(master::decide(s, Command{"c2", "n", AddCustomModelCard{CustomCard{"", "x"}}}, id).ok);
    EXPECT_FALSE(master::decide(s, Command{"c3", "n", AddCustomModelCard{CustomCard{"m", ""}}}, id).ok);
    // Deleting is accepted even when the State lacks the card (a node's own old file goes too).
    d = master::decide(s, Command{"c4", "n", DeleteCustomModelCard{"gone"}}, id);
    ASSERT_TRUE(d.ok);
    EXPECT_EQ(std::get<CustomModelCardDeleted>(d.events[0]).model_id, "gone");
    EXPECT_FALSE(master::decide(s, Command{"c5", "n", DeleteCustomModelCard{""}}, id).ok);
}

// Self-healing: a failed instance moves to State::replacing (when its policy
// allows), exactly one PlaceInstance with `replaces` ends that, and a delete
// of the entry gives it up.
TEST(Master, FailedDeleteMovesTheInstanceToReplacingAndOnePlacementEndsIt) {
    State s = run({SessionStarted{"a", {}}, NodeJoined{{"a", "e"}}, NodeJoined{{"b", "f"}},
                   InstanceCreated{inst("i1", {"a", "b"})}});
    int n = 0;
    auto ids = [&] { return "new" + std::to_string(n++); };
    auto d = master::decide(s, Command{"c1", "b", DeleteInstance{"i1", true, "rank 0 failed"}}, ids);
    ASSERT_TRUE(d.ok) << d.error;
    const auto &del = std::get<InstanceDeleted>(d.events.back());
    EXPECT_TRUE(del.replace);
    EXPECT_NE(del.reason.find("rank 0 failed"), std::string::npos) << del.reason;
    s = apply(s, Event{1, 4, del});
    EXPECT_FALSE(s.instances.count("i1"));
    ASSERT_TRUE(s.replacing.count("i1"));
    EXPECT_EQ(s.replacing.at("i1").model_id, "m-i1");

    PlaceInstance again{"m-i1", {"a"}, "Pipeline"};
    again.replaces = "i1";
    d = master::decide(s, Command{"c2", "a", again}, ids);
    ASSERT_TRUE(d.ok) << d.error;
    EXPECT_EQ(std::get<InstanceCreated>(d.events[0]).replaces, "i1");
    const State healed = apply(s, Event{1, 5, d.events[0]});
    EXPECT_TRUE(healed.replacing.empty());
    EXPECT_EQ(healed.instances.size(), 1u);
    // A second re-placement of the same entry (another node trying too) is refused.
    EXPECT_FALSE(master::decide(healed, Command{"c3", "b", again}, ids).ok);
    // So is the same failure reported by another rank's worker: it must not cancel the re-placement.
    EXPECT_FALSE(master::decide(s, Command{"c3b", "a", DeleteInstance{"i1", true, "hub gone"}}, ids).ok);

    // Giving it up instead: deleting the entry's id clears it.
    d = master::decide(s, Command{"c4", "a", DeleteInstance{"i1", false, "does not fit"}}, ids);
    ASSERT_TRUE(d.ok) << d.error;
    EXPECT_FALSE(std::get<InstanceDeleted>(d.events[0]).replace);
    EXPECT_TRUE(apply(s, Event{1, 5, d.events[0]}).replacing.empty());
}

TEST(Master, OnlyFailuresOfSelfHealingInstancesAreReplaced) {
    Instance keep = inst("i2", {"b"});
    keep.self_heal = false;
    State s = run({SessionStarted{"a", {}}, NodeJoined{{"a", "e"}}, NodeJoined{{"b", "f"}},
                   InstanceCreated{inst("i1", {"b"})}, InstanceCreated{keep}});
    auto ids = [] { return std::string("x"); };
    // A user's delete is not a failure.
    auto d = master::decide(s, Command{"c1", "a", DeleteInstance{"i1"}}, ids);
    ASSERT_TRUE(d.ok);
    EXPECT_FALSE(std::get<InstanceDeleted>(d.events.back()).replace);
    // A node leaving or timing out: the self-healing one is re-placed, the other not.
    for (const auto &evs : {master::leave(s, "b"), [&] {
             master::LivenessInput in;
             in.self = "a";
             in.now = in.session_started = Clock::now();
             in.settle_grace = std::chrono::seconds(0);
             in.heard["a"] = {"e", in.now};
             return master::liveness(s, in);
         }()}) {
        std::map<std::string, bool> replace;
        for (const auto &e : evs)
            if (auto *x = std::get_if<InstanceDeleted>(&e)) replace[x->instance_id] = x->replace;
        EXPECT_EQ(replace, (std::map<std::string, bool>{{"i1", true}, {"i2", false}}));
    }
}

TEST(StateApply, PendingReplacementsAreCarriedAcrossSessions) {
    State s = run({SessionStarted{"a", {}}, NodeJoined{{"a", "e"}}, InstanceCreated{inst("i1", {"a"})},
                   InstanceDeleted{"i1", "a node of the instance timed out", true}});
    ASSERT_EQ(s.replacing.size(), 1u);
    const State next = apply(s, Event{2, 0, SessionStarted{"b", {}, {}, {s.replacing.at("i1")}}});
    EXPECT_EQ(next.replacing, s.replacing);
}
