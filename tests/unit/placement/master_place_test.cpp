// The master's re-check of a planned PlaceInstance (shards carried in the
// command): valid layouts become the instance as planned, anything else is
// refused with a reason.
#include "master/master.hpp"

#include <gtest/gtest.h>

using namespace skulk;
using namespace skulk::state;

namespace {

State members(std::vector<std::string> ids) {
    State s;
    for (auto &id : ids) s.nodes[id] = NodeInfo{id, "tcp://127.0.0.1:1"};
    return s;
}

master::Decision place(const State &s, PlaceInstance p) {
    return master::decide(s, Command{"cmd-1", "a", std::move(p)}, [] { return std::string("inst-1"); });
}

} // namespace

TEST(MasterPlacement, PlannedShardsAreKeptAsPlanned) {
    PlaceInstance p;
    p.model_id = "m";
    p.shards = {{"b", 1, 2, 8, 11, "cpu_blas-cpu"}, {"a", 0, 2, 0, 7, "cpu_blas-cpu"}};
    p.context_token_limit = 512;
    const auto d = place(members({"a", "b"}), p);
    ASSERT_TRUE(d.ok) << d.error;
    ASSERT_EQ(d.events.size(), 1u);
    const auto &inst = std::get<InstanceCreated>(d.events[0]).instance;
    EXPECT_EQ(inst.id, "inst-1");
    EXPECT_EQ(inst.context_token_limit, 512);
    ASSERT_EQ(inst.shards.size(), 2u);
    EXPECT_EQ(inst.shards[0].node_id, "a"); // in rank order
    EXPECT_EQ(inst.shards[1].first_layer, 8);
    EXPECT_EQ(inst.shards[1].backend, "cpu_blas-cpu");
}

TEST(MasterPlacement, BadPlannedShardsAreRefused) {
    PlaceInstance p;
    p.model_id = "m";
    p.shards = {{"a", 0, 2, 0, 7, "x"}, {"ghost", 1, 2, 8, 11, "x"}};
    auto d = place(members({"a", "b"}), p);
    EXPECT_FALSE(d.ok);
    EXPECT_NE(d.error.find("ghost is not a member"), std::string::npos) << d.error;
    p.shards = {{"a", 0, 2, 0, 7, "x"}, {"b", 1, 2, 9, 11, "x"}};
    d = place(members({"a", "b"}), p);
    EXPECT_FALSE(d.ok);
    EXPECT_NE(d.error.find("contiguous"), std::string::npos) << d.error;
}
