// Node identity files, the ZAP handler of the cluster ports, and the
// election's quorum rule (no master on the minority side of a partition).
#include "common/curve.hpp"
#include "cluster/election.hpp"
#include "cluster/identity.hpp"
#include "cluster/quorum_replies.hpp"
#include "cluster/zap.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <thread>

#include <sys/stat.h>

namespace fs = std::filesystem;
using namespace skulk::cluster;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

struct TempDir {
    fs::path path;
    TempDir() {
        std::random_device rd;
        path = fs::temp_directory_path() / ("skulk-security-test-" + std::to_string(rd()) + std::to_string(rd()));
        fs::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

mode_t mode_of(const fs::path &p) {
    struct stat st {};
    ::stat(p.c_str(), &st);
    return st.st_mode & 0777;
}

std::string error_of(const fs::path &dir) {
    try {
        load_or_create_identity(dir);
    } catch (const std::exception &e) {
        return e.what();
    }
    return "";
}

} // namespace

TEST(Identity, CreatedOnceThenTheSameIdEveryStart) {
    TempDir t;
    const auto first = load_or_create_identity(t.path / "identity");
    EXPECT_TRUE(first.created);
    EXPECT_EQ(mode_of(t.path / "identity"), 0700u);
    EXPECT_EQ(mode_of(t.path / "identity" / "node.key"), 0600u);
    EXPECT_TRUE(std::regex_match(first.node_id, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
        << first.node_id;
    const auto again = load_or_create_identity(t.path / "identity");
    EXPECT_FALSE(again.created);
    EXPECT_EQ(again.node_id, first.node_id);
    EXPECT_EQ(again.keys.public_z85, first.keys.public_z85);
    EXPECT_EQ(node_id_for_key(first.keys.public_z85), first.node_id);
    TempDir other;
    EXPECT_NE(load_or_create_identity(other.path).node_id, first.node_id);
}

TEST(Identity, ABadFileIsRefusedNamingTheFileAndTheReason) {
    TempDir t;
    const auto file = t.path / "node.key";
    std::ofstream(file) << "not a key\n";
    fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
    auto e = error_of(t.path);
    EXPECT_NE(e.find(file.string()), std::string::npos) << e;
    EXPECT_NE(e.find("40 Z85 characters"), std::string::npos) << e;

    const auto good = load_or_create_identity(t.path / "good");
    std::ofstream(file, std::ios::trunc) << good.keys.public_z85 << "\n" << good.keys.secret_z85 << "\n";
    fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read, fs::perm_options::replace);
    e = error_of(t.path);
    EXPECT_NE(e.find("readable by group or others"), std::string::npos) << e;

    const auto other = load_or_create_identity(t.path / "other");
    std::ofstream(file, std::ios::trunc) << other.keys.public_z85 << "\n" << good.keys.secret_z85 << "\n";
    fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
    e = error_of(t.path);
    EXPECT_NE(e.find("does not belong"), std::string::npos) << e;
}

namespace {

// A PUB server guarded by a ZapHandler (answered on a thread) and one SUB
// client with `client` keys: how many messages reach the client.
size_t received_with(const std::string &secret, const CurveKeys &client) {
    zmq::context_t ctx;
    auto log = std::make_shared<spdlog::logger>("zap-test", std::make_shared<spdlog::sinks::null_sink_mt>());
    const auto server_keys = cluster_server_keys(secret, "ns");
    ZapHandler zap(ctx, secret.empty() ? std::nullopt : std::optional<std::string>(server_keys.public_z85), log);
    zmq::socket_t pub(ctx, zmq::socket_type::pub);
    pub.set(zmq::sockopt::linger, 0);
    secure_cluster_server(pub, server_keys);
    pub.bind("tcp://127.0.0.1:*");
    const std::string ep = pub.get(zmq::sockopt::last_endpoint);
    zmq::socket_t sub(ctx, zmq::socket_type::sub);
    sub.set(zmq::sockopt::linger, 0);
    secure_cluster_client(sub, server_keys.public_z85, client);
    sub.set(zmq::sockopt::subscribe, "");
    sub.connect(ep);
    size_t got = 0;
    const auto end = Clock::now() + 1500ms;
    while (Clock::now() < end) {
        zmq::pollitem_t items[] = {{zap.socket().handle(), 0, ZMQ_POLLIN, 0}, {sub.handle(), 0, ZMQ_POLLIN, 0}};
        pub.send(zmq::str_buffer("tick"), zmq::send_flags::dontwait);
        zmq::poll(items, 2, 20ms);
        if (items[0].revents & ZMQ_POLLIN) zap.handle();
        zmq::message_t m;
        while (sub.recv(m, zmq::recv_flags::dontwait)) ++got;
    }
    return got;
}

CurveKeys fresh_pair() {
    char pub[41] = {0}, sec[41] = {0};
    zmq_curve_keypair(pub, sec);
    return CurveKeys{pub, sec};
}

} // namespace

TEST(Zap, WithASecretOnlyTheSecretsKeyIsAdmitted) {
    EXPECT_GT(received_with("s3cret", derive_curve_keys("s3cret")), 0u);
    EXPECT_EQ(received_with("s3cret", fresh_pair()), 0u) << "a stranger knowing the server key only";
}

TEST(Zap, WithoutASecretAnyCurveClientIsAdmitted) {
    EXPECT_GT(received_with("", fresh_pair()), 0u);
}

namespace {
struct Net {
    std::map<std::string, std::unique_ptr<Election>> nodes;
    void deliver(const std::string &from, const std::vector<ElectionMsg> &msgs, Clock::time_point now,
                 const std::set<std::string> &reach) {
        for (const auto &m : msgs)
            for (auto &[id, e] : nodes)
                if (id != from && reach.count(id)) deliver(id, e->on_message(from, m, now), now, reach);
    }
    // Each side of `sides` hears only itself.
    void step(Clock::time_point now, const std::vector<std::set<std::string>> &sides) {
        for (const auto &side : sides)
            for (const auto &id : side) {
                std::set<std::string> alive = side;
                alive.erase(id);
                deliver(id, nodes[id]->tick(now, alive), now, side);
            }
    }
};
} // namespace

TEST(Election, TheMinorityOfAPartitionHasNoMasterAndTheOldMasterStepsDown) {
    const auto t0 = Clock::now();
    Net net;
    for (const char *id : {"a", "b", "c"}) {
        net.nodes[id] = std::make_unique<Election>(id, false, Election::Config{}, t0);
        net.nodes[id]->set_quorum(quorum_of(3));
    }
    int ms = 0;
    for (; ms <= 2000; ms += 50) net.step(t0 + std::chrono::milliseconds(ms), {{"a", "b", "c"}});
    ASSERT_EQ(net.nodes["a"]->master(), "c");
    // c (the master) is cut off: it steps down; a and b elect b.
    for (const int end = ms + 6000; ms <= end; ms += 50) net.step(t0 + std::chrono::milliseconds(ms), {{"a", "b"}, {"c"}});
    EXPECT_EQ(net.nodes["c"]->master(), "");
    EXPECT_FALSE(net.nodes["c"]->campaigning());
    EXPECT_EQ(net.nodes["a"]->master(), "b");
    EXPECT_EQ(net.nodes["b"]->master(), "b");
    EXPECT_EQ(net.nodes["b"]->term(), 2u);
}

TEST(Election, QuorumOfOneOrTwoMembersIsOneElseAMajority) {
    EXPECT_EQ(quorum_of(1), 1u);
    EXPECT_EQ(quorum_of(2), 1u);
    EXPECT_EQ(quorum_of(3), 2u);
    EXPECT_EQ(quorum_of(4), 3u);
    EXPECT_EQ(quorum_of(5), 3u);
}

TEST(Election, TheMostUpToDateNodeOutranksASeniorOne) {
    ElectionKey senior{false, 3, 10, 5, "z"}, fresher{false, 3, 11, 0, "a"};
    EXPECT_GT(fresher, senior);
    ElectionKey newer_term{false, 4, 0, 0, "a"};
    EXPECT_GT(newer_term, fresher);
}

TEST(QuorumReplies, AnsweredOnceAQuorumHoldsTheEventFailedWhenTheSessionEndsOrTimeRunsOut) {
    QuorumReplies q;
    const auto t0 = Clock::now();
    std::vector<CommandReply> got;
    auto answer = [&](const CommandReply &r) { got.push_back(r); };
    q.hold(CommandReply{"held", true, "", {"inst"}}, 4, 7, t0 + 10s, answer);
    size_t holding = 1;
    auto holders = [&](int64_t idx) { return idx == 7 ? holding : size_t(0); };
    q.settle(4, 2, holders, t0 + 1s);
    EXPECT_TRUE(got.empty()) << "only the master holds it";
    holding = 2;
    q.settle(4, 2, holders, t0 + 2s);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_TRUE(got[0].ok);
    EXPECT_EQ(got[0].created_ids, std::vector<std::string>{"inst"});
    EXPECT_TRUE(q.empty());

    got.clear();
    holding = 1;
    q.hold(CommandReply{"stepped-down", true, "", {}}, 4, 7, t0 + 10s, answer);
    q.hold(CommandReply{"slow", true, "", {}}, 5, 7, t0 + 10s, answer);
    q.settle(5, 2, holders, t0 + 3s); // session 4 ended: its change cannot be confirmed
    ASSERT_EQ(got.size(), 1u);
    EXPECT_FALSE(got[0].ok);
    EXPECT_NE(got[0].error.find("master lost its quorum"), std::string::npos);
    q.settle(5, 2, holders, t0 + 11s);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_NE(got[1].error.find("in time"), std::string::npos);
    EXPECT_TRUE(q.empty());

    EXPECT_TRUE(QuorumReplies::needs_quorum(skulk::state::Command{"c", "n", skulk::state::PlaceInstance{}}));
    EXPECT_FALSE(QuorumReplies::needs_quorum(skulk::state::Command{"c", "n", skulk::state::CreateTask{"t", "i"}}));
}
