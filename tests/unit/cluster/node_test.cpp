// Two cluster::Node objects in one process, on real loopback sockets: they
// meet, agree on a master, and a command through the follower reaches both
// states in index order (seen through the listener hook).
#include "cluster/node.hpp"
#include "common/node_id.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <mutex>
#include <random>
#include <thread>

namespace fs = std::filesystem;
using namespace skulk;
using namespace std::chrono_literals;

namespace {

struct TempDir {
    fs::path path;
    TempDir() {
        std::random_device rd;
        path = fs::temp_directory_path() / ("skulk-node-test-" + std::to_string(rd()) + std::to_string(rd()));
        fs::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

template <class F>
bool eventually(F f, std::chrono::milliseconds timeout = 15s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (f()) return true;
        std::this_thread::sleep_for(20ms);
    }
    return f();
}

cluster::NodeOptions options(const fs::path &dir, const std::string &ns) {
    cluster::NodeOptions o;
    o.node_id = make_node_id();
    o.ns = ns;
    o.port = 0;
    o.bind_address = "127.0.0.1";
    o.data_dir = dir;
    o.beacons = false;
    o.eventlog_min_free_bytes = 0;
    return o;
}

} // namespace

TEST(ClusterNode, TwoNodesAgreeAndReplicateInOrder) {
    TempDir d1, d2;
    const std::string ns = "unit-" + make_node_id();
    cluster::Node a(options(d1.path, ns));
    a.start();
    auto ob = options(d2.path, ns);
    ob.bootstrap_peers = {"tcp://127.0.0.1:" + std::to_string(a.port())};
    cluster::Node b(ob);
    std::mutex mu;
    std::vector<int64_t> seen_idx;
    b.add_listener([&](const state::State &s, const state::Event *e) {
        std::lock_guard lk(mu);
        seen_idx.push_back(e ? e->idx : s.last_event_applied_idx);
    });
    b.start();
    EXPECT_THROW(b.add_listener([](const state::State &, const state::Event *) {}), std::logic_error);

    ASSERT_TRUE(eventually([&] {
        const auto va = a.view(), vb = b.view();
        return !va.master_id.empty() && va.master_id == vb.master_id && va.state.nodes.size() == 2 &&
               vb.state.nodes.size() == 2;
    })) << "no agreement";
    cluster::Node &follower = a.view().is_master ? b : a;
    const auto reply = follower.submit(state::PlaceInstance{"unit-model", {}, "Pipeline"}, 10s);
    ASSERT_TRUE(reply.ok) << reply.error;
    ASSERT_EQ(reply.created_ids.size(), 1u);
    ASSERT_TRUE(eventually([&] {
        return a.view().state.instances.count(reply.created_ids[0]) && b.view().state.instances.count(reply.created_ids[0]);
    }));
    EXPECT_EQ(a.view().state, b.view().state) << "both nodes applied the same events";
    {
        std::lock_guard lk(mu);
        ASSERT_FALSE(seen_idx.empty());
        for (size_t i = 1; i < seen_idx.size(); ++i) EXPECT_GT(seen_idx[i], seen_idx[i - 1]) << "in index order";
    }
    // Refusals come back with the master's reason.
    const auto bad = follower.submit(state::DeleteInstance{"no-such-instance"}, 10s);
    EXPECT_FALSE(bad.ok);
    EXPECT_NE(bad.error.find("no-such-instance"), std::string::npos);
    b.stop();
    a.stop();
}
