// The placement planner's arithmetic and choices. Expected numbers are worked
// out here from the documented rules (docs/architecture.md "## Placement"),
// not read back from the planner.
#include "placement/planner.hpp"

#include <gtest/gtest.h>

#include <cmath>

using namespace skulk;
using namespace skulk::placement;

namespace {

constexpr uint64_t GB = 1000000000ull;

ModelFacts model(uint32_t layers, uint64_t weights, uint64_t kv_per_token = 0, uint32_t ctx = 1024) {
    ModelFacts m;
    m.model_id = "m";
    m.n_layers = layers;
    m.weight_bytes = weights;
    m.kv_bytes_per_token = kv_per_token;
    m.context_tokens = ctx;
    m.compatible_backends = {"cpu_blas-cpu", "vulkan-cpu"};
    m.backend_preference = {"cpu_blas-cpu"};
    return m;
}

NodeFacts node(std::string id, uint64_t available, std::vector<telemetry::BackendOffer> backends = {{"cpu_blas-cpu", 10}}) {
    NodeFacts n;
    n.node_id = std::move(id);
    n.has_telemetry = true;
    n.reading.ram_total = available * 2;
    n.reading.ram_available = available;
    n.reading.backends = std::move(backends);
    return n;
}

// Independent restatement of the admission rule for k of n layers.
uint64_t need(const ModelFacts &m, int k) {
    const unsigned __int128 w = (unsigned __int128)m.weight_bytes * k * 11;
    const unsigned __int128 d = (unsigned __int128)m.n_layers * 10;
    return uint64_t((w + d - 1) / d) + m.kv_bytes_per_token / m.n_layers * k * m.context_tokens + (256ull << 20);
}

} // namespace

TEST(ModelFacts, KvAndContextBudgetFromTheCard) {
    cards::ModelCard c;
    c.model_id = "x";
    c.n_layers = 5;
    c.hidden_size = 64;
    c.num_key_value_heads = 4;
    c.context_length = 512;
    c.storage_size = 1185344;
    auto f = model_facts(c);
    // K and V, min(64, 4 x 128) wide, 2 bytes, 5 layers.
    EXPECT_EQ(f.kv_bytes_per_token, 5u * 2 * 64 * 2);
    EXPECT_FALSE(f.kv_estimated);
    EXPECT_EQ(f.context_tokens, 512u);
    EXPECT_EQ(f.weight_bytes, 1185344u);

    c.hidden_size = 4096;
    c.num_key_value_heads = 8;    // GQA: 8 x 128 = 1024 wide
    c.context_length = 131072;    // capped at 8192
    c.placement.max_context_tokens = 4096;
    f = model_facts(c);
    EXPECT_EQ(f.kv_bytes_per_token, 5u * 2 * 1024 * 2);
    EXPECT_EQ(f.context_tokens, 4096u);
    c.placement.max_context_tokens.reset();
    EXPECT_EQ(model_facts(c).context_tokens, 8192u);

    c.hidden_size = 0;
    c.num_key_value_heads = 0;
    c.context_length = 0;
    f = model_facts(c);
    EXPECT_TRUE(f.kv_estimated);
    EXPECT_EQ(f.kv_bytes_per_token, 5u * 2 * 4096 * 2);
    EXPECT_EQ(f.context_tokens, 8192u);
}

TEST(Admission, WeightsOverheadKvAndFloor) {
    const auto m = model(10, 1 * GB, 10 * 1000, 2048);
    const Admission a = admission(m, 4);
    EXPECT_EQ(a.weights, 440000000u);             // 1 GB x 4/10 x 1.10
    EXPECT_EQ(a.kv, 1000u * 4 * 2048);            // 1000 B per token and layer
    EXPECT_EQ(a.floor, 256ull << 20);
    EXPECT_EQ(a.total(), 440000000u + 8192000u + (256ull << 20));
}

TEST(SplitLayers, ProportionalAtLeastOneEachSumsUp) {
    EXPECT_EQ(split_layers(12, {6 * GB, 3 * GB}), (std::vector<int>{8, 4}));
    EXPECT_EQ(split_layers(10, {1 * GB, 1 * GB, 1 * GB}), (std::vector<int>{4, 3, 3})); // remainder to the lower rank
    EXPECT_EQ(split_layers(3, {1000 * GB, 1, 1}), (std::vector<int>{1, 1, 1}));
    EXPECT_EQ(split_layers(5, {0, 0}), (std::vector<int>{3, 2}));
    EXPECT_EQ(split_layers(7, {5 * GB}), (std::vector<int>{7}));
}

TEST(Plan, OneNodeWhenItFitsThePreferredBackendAndMoreMemoryWin) {
    const auto m = model(12, 2 * GB, 12 * 100, 1024);
    // b has the most memory but only a non-preferred backend; a and c prefer.
    std::vector<NodeFacts> nodes = {node("a", 5 * GB), node("b", 20 * GB, {{"vulkan-cpu", 50}}), node("c", 8 * GB)};
    auto o = plan(m, nodes, {});
    ASSERT_TRUE(o.ok()) << o.message;
    const auto &inst = o.plan->instance;
    ASSERT_EQ(inst.shards.size(), 1u);
    EXPECT_EQ(inst.shards[0].node_id, "c");
    EXPECT_EQ(inst.shards[0].backend, "cpu_blas-cpu");
    EXPECT_EQ(inst.shards[0].first_layer, 0);
    EXPECT_EQ(inst.shards[0].last_layer, 11);
    EXPECT_EQ(inst.context_token_limit, 1024);
    EXPECT_EQ(o.plan->memory_delta_by_node.at("c"), need(m, 12));

    // Without the preferred backend anywhere, the highest-score allowed offer is used.
    auto only_vulkan = plan(m, {node("b", 20 * GB, {{"cpu_x-cpu", 99}, {"vulkan-cpu", 50}})}, {});
    ASSERT_TRUE(only_vulkan.ok()) << only_vulkan.message;
    EXPECT_EQ(only_vulkan.plan->instance.shards[0].backend, "vulkan-cpu");
}

TEST(Plan, SpreadsOverTwoNodesProportionallyWhenOneIsNotEnough) {
    const auto m = model(12, 6 * GB, 0, 512);
    // Whole model: 6.6 GB + floor; neither node alone has it.
    std::vector<NodeFacts> nodes = {node("small", 2500000000ull), node("big", 5 * GB)};
    auto o = plan(m, nodes, {});
    ASSERT_TRUE(o.ok()) << o.message;
    const auto &sh = o.plan->instance.shards;
    ASSERT_EQ(sh.size(), 2u);
    // Ranks by usable memory: big first. 12 x 5/7.5 = 8, 12 x 2.5/7.5 = 4.
    EXPECT_EQ(sh[0].node_id, "big");
    EXPECT_EQ(sh[0].first_layer, 0);
    EXPECT_EQ(sh[0].last_layer, 7);
    EXPECT_EQ(sh[1].node_id, "small");
    EXPECT_EQ(sh[1].first_layer, 8);
    EXPECT_EQ(sh[1].last_layer, 11);
    EXPECT_EQ(sh[0].world_size, 2);
    EXPECT_EQ(sh[1].rank, 1);
    EXPECT_EQ(o.plan->memory_delta_by_node.at("big"), need(m, 8));
    EXPECT_EQ(o.plan->memory_delta_by_node.at("small"), need(m, 4));
    EXPECT_EQ(check_layout(sh, 12), "");

    // min_nodes forces a wider set even when one node would do.
    Request three;
    three.min_nodes = 3;
    auto wide = plan(m, {node("a", 50 * GB), node("b", 50 * GB), node("c", 50 * GB)}, three);
    ASSERT_TRUE(wide.ok()) << wide.message;
    EXPECT_EQ(wide.plan->instance.shards.size(), 3u);
}

TEST(Plan, TooLittleMemoryNamesThePerNodeArithmetic) {
    const auto m = model(12, 3 * GB, 0, 512);
    auto o = plan(m, {node("n1", 2 * GB)}, {});
    ASSERT_FALSE(o.ok());
    EXPECT_EQ(o.kind, FailureKind::InsufficientMemory);
    // 3 GB x 1.10 + 0.268 GB floor = 3.568 GB.
    EXPECT_NE(o.message.find("node n1 needs 3.6 GB for 12 layers"), std::string::npos) << o.message;
    EXPECT_NE(o.message.find("has 2.0 GB usable"), std::string::npos) << o.message;
}

TEST(Plan, TypedFailures) {
    const auto m = model(4, 1 * GB);
    auto none = plan(m, {node("a", 9 * GB, {{"metal-gpu", 5}}), node("b", 9 * GB, {})}, {});
    EXPECT_EQ(none.kind, FailureKind::NoCompatibleBackend);
    EXPECT_NE(none.message.find("card wants [cpu_blas-cpu, vulkan-cpu]"), std::string::npos) << none.message;
    EXPECT_NE(none.message.find("a: [metal-gpu]"), std::string::npos) << none.message;

    Request ex;
    ex.excluded = {"a", "b"};
    EXPECT_EQ(plan(m, {node("a", 9 * GB), node("b", 9 * GB)}, ex).kind, FailureKind::ExclusionsRemovedAll);
    ex.excluded = {"a"};
    auto only_b = plan(m, {node("a", 90 * GB), node("b", 9 * GB)}, ex);
    ASSERT_TRUE(only_b.ok()) << only_b.message;
    EXPECT_EQ(only_b.plan->instance.shards[0].node_id, "b");

    Request three;
    three.min_nodes = 3;
    auto few = plan(m, {node("a", 9 * GB), node("b", 9 * GB)}, three);
    EXPECT_EQ(few.kind, FailureKind::NotEnoughNodes);
    EXPECT_NE(few.message.find("(min_nodes 3, 2 available)"), std::string::npos) << few.message;

    NodeFacts silent = node("quiet", 9 * GB);
    silent.has_telemetry = false;
    auto pending = plan(m, {node("a", 9 * GB), silent}, {});
    EXPECT_EQ(pending.kind, FailureKind::InfoPending);
    EXPECT_NE(pending.message.find("quiet"), std::string::npos);
    ex.excluded = {"quiet"};
    EXPECT_TRUE(plan(m, {node("a", 9 * GB), silent}, ex).ok()); // excluding it unblocks
    EXPECT_EQ(plan(m, {}, {}).kind, FailureKind::InfoPending);  // membership not known yet

    Request tensor;
    tensor.sharding = "Tensor";
    EXPECT_EQ(plan(m, {node("a", 9 * GB)}, tensor).kind, FailureKind::BadRequest);
    Request bad;
    bad.sharding = "Diagonal";
    EXPECT_NE(plan(m, {node("a", 9 * GB)}, bad).message.find("Diagonal"), std::string::npos);
}

TEST(Plan, DiscreteGpuMemoryIsTheUsableMemory) {
    const auto m = model(4, 4 * GB);
    NodeFacts gpu = node("gpu", 64 * GB);
    gpu.reading.gpu_memory_total = 8 * GB;
    gpu.reading.gpu_memory_available = 3 * GB;
    EXPECT_EQ(usable_bytes(gpu.reading), 3 * GB);
    auto o = plan(m, {gpu}, {});
    EXPECT_EQ(o.kind, FailureKind::InsufficientMemory);
    EXPECT_NE(o.message.find("has 3.0 GB usable"), std::string::npos) << o.message;
}

TEST(PlanExact, ExactNodeCountForPreviews) {
    const auto m = model(6, 1 * GB);
    std::vector<NodeFacts> nodes = {node("a", 30 * GB), node("b", 10 * GB), node("c", 20 * GB)};
    auto two = plan_exact(m, nodes, {}, 2);
    ASSERT_TRUE(two.ok()) << two.message;
    ASSERT_EQ(two.plan->instance.shards.size(), 2u);
    EXPECT_EQ(two.plan->instance.shards[0].node_id, "a"); // the two with the most memory
    EXPECT_EQ(two.plan->instance.shards[1].node_id, "c");
    EXPECT_EQ(plan_exact(m, nodes, {}, 4).kind, FailureKind::NotEnoughNodes);
}

TEST(CheckLayout, RejectsGapsOverlapsAndBadRanks) {
    using S = state::ShardAssignment;
    EXPECT_EQ(check_layout({S{"a", 0, 2, 0, 3, "x"}, S{"b", 1, 2, 4, 7, "x"}}, 8), "");
    EXPECT_NE(check_layout({S{"a", 0, 2, 0, 3, "x"}, S{"b", 1, 2, 5, 7, "x"}}, 8).find("contiguous"), std::string::npos);
    EXPECT_NE(check_layout({S{"a", 0, 2, 0, 3, "x"}, S{"b", 1, 2, 4, 6, "x"}}, 8).find("the model has 8"), std::string::npos);
    EXPECT_NE(check_layout({S{"a", 0, 3, 0, 3, "x"}, S{"b", 1, 2, 4, 7, "x"}}, 8).find("world size"), std::string::npos);
    EXPECT_NE(check_layout({S{"a", 0, 2, 0, 3, "x"}, S{"a", 1, 2, 4, 7, "x"}}, 8).find("more than one shard"), std::string::npos);
    EXPECT_NE(check_layout({S{"a", 1, 1, 0, 7, "x"}}, 8).find("rank 0 is missing"), std::string::npos);
    EXPECT_NE(check_layout({}, 8).find("at least one shard"), std::string::npos);
}

TEST(CheckInstance, BackendAndMemoryOfEveryShard) {
    const auto m = model(8, 4 * GB, 0, 512);
    // a: 6 layers = 3.3 GB + 0.27 GB floor <= 4 GB; b: 2 layers = 1.1 GB + 0.27 GB.
    std::vector<NodeFacts> nodes = {node("a", 4 * GB), node("b", 2 * GB)};
    state::Instance inst;
    inst.model_id = "m";
    inst.context_token_limit = 512;
    inst.shards = {{"a", 0, 2, 0, 5, "cpu_blas-cpu"}, {"b", 1, 2, 6, 7, "cpu_blas-cpu"}};
    EXPECT_EQ(check_instance(m, nodes, inst), "");

    nodes[1].reading.ram_available = 1 * GB;
    EXPECT_NE(check_instance(m, nodes, inst).find("node b needs 1.4 GB for 2 layers"), std::string::npos) << check_instance(m, nodes, inst);
    nodes[1].reading.ram_available = 2 * GB;

    auto other = inst;
    other.shards[1].backend = "vulkan-cpu";
    EXPECT_NE(check_instance(m, nodes, other).find("node b does not offer backend vulkan-cpu"), std::string::npos);
    other.shards[1].backend = "metal-gpu";
    EXPECT_NE(check_instance(m, nodes, other).find("not compatible"), std::string::npos);
    other = inst;
    other.context_token_limit = 100000;
    EXPECT_NE(check_instance(m, nodes, other).find("contextTokenLimit"), std::string::npos);
    other = inst;
    other.shards[1].node_id = "ghost";
    EXPECT_NE(check_instance(m, nodes, other).find("ghost is not a member"), std::string::npos);
}

TEST(Reservations, InstancesStillLoadingHoldTheirMemory) {
    const auto m = model(8, 4 * GB, 0, 512);
    state::State s;
    state::Instance inst;
    inst.id = "i1";
    inst.model_id = "m";
    inst.shards = {{"a", 0, 2, 0, 5, "cpu_blas-cpu"}, {"b", 1, 2, 6, 7, "cpu_blas-cpu"}};
    s.instances["i1"] = inst;
    state::Instance other = inst;
    other.id = "i2";
    other.model_id = "no-card";
    s.instances["i2"] = other;
    // b's runner has loaded: its memory is already out of b's MemAvailable.
    s.runners["r-b"] = state::RunnerStatus{"r-b", "i1", "b", state::RunnerPhase::Ready, 2, 2, ""};
    s.runners["r-a"] = state::RunnerStatus{"r-a", "i1", "a", state::RunnerPhase::Loading, 3, 6, ""};
    const auto r = reservations(s, [&](const std::string &id) -> std::optional<ModelFacts> {
        if (id == "m") return m;
        return std::nullopt;
    });
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r.at("a"), need(m, 6));

    // The planner sees a's memory less the reservation.
    NodeFacts a = node("a", 8 * GB);
    a.reserved_bytes = r.at("a");
    EXPECT_EQ(usable_bytes(a), 8 * GB - need(m, 6));
    auto o = plan(m, {a}, {});
    ASSERT_FALSE(o.ok());
    EXPECT_NE(o.message.find("promised to instances still loading"), std::string::npos) << o.message;
    a.reserved_bytes = 100 * GB;
    EXPECT_EQ(usable_bytes(a), 0u);
}
