// One node's cluster presence: the ZeroMQ router (PUB/SUB topics plus
// ROUTER/DEALER requests), membership (bootstrap peers, UDP beacons,
// heartbeats), the bully election, the master role when elected, the
// replicated State and the durable event log.
//
// Ports: the node binds its cluster port P for PUB (topics) and P + 1 for
// ROUTER (requests: hello, commands, snapshots, gaps). With P = 0 a free pair
// is chosen. All sockets live on one internal thread; the public methods are
// thread-safe.
#pragma once

#include "cluster/election.hpp"
#include "cluster/wire.hpp"
#include "eventlog/event_log.hpp"
#include "state/commands.hpp"
#include "state/events.hpp"
#include "telemetry/reading.hpp"

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace skulk::cluster {

struct NodeOptions {
    std::string node_id;
    std::string ns;                           // cluster namespace
    std::string secret;                       // non-empty: CURVE on every socket
    int port = 52416;                         // 0: pick a free pair
    std::string bind_address = "*";
    std::vector<std::string> bootstrap_peers; // tcp://host:port (the PUB port)
    bool force_master = false;
    std::filesystem::path data_dir;           // event log in <data_dir>/eventlog
    std::chrono::seconds node_timeout{30};    // SKULK_NODE_TIMEOUT_SECONDS
    std::chrono::seconds settle_grace{60};    // SKULK_TOPOLOGY_SETTLE_GRACE_SECONDS
    std::chrono::milliseconds heartbeat{250};
    std::chrono::milliseconds peer_timeout{2000}; // SKULK_PEER_TIMEOUT_MS: election liveness
    Election::Config election;
    bool beacons = true;                      // SKULK_BEACONS=0 disables
    uint16_t beacon_port = 52417;             // SKULK_BEACON_PORT
    uint64_t eventlog_min_free_bytes = 2ull << 30; // SKULK_EVENTLOG_MIN_FREE_BYTES
    bool eventlog_accept_gap = false;         // SKULK_EVENTLOG_ACCEPT_GAP=1: start alone past a gap
    // Test hook (SKULK_TEST_DROP_EVERY_NTH_EVENT): a follower drops every
    // n-th published event it receives, so tests exercise gap recovery.
    uint32_t test_drop_every_nth_event = 0;
    // Test hook (SKULK_TEST_NO_STATE_LISTENERS=1): listeners (the worker) are
    // not called, so cluster-core tests can place placeholder models that no
    // worker could run without the worker giving them up.
    bool test_mute_listeners = false;
};

// Reads the SKULK_* overrides above. Returns "" or an error naming the variable.
std::string apply_env_overrides(NodeOptions &o);

struct PeerView {
    std::string node_id;
    std::string endpoint;
    bool alive = false;
    std::chrono::system_clock::time_point last_heard;
};

// The latest telemetry reading of a node and when this node received it.
struct TelemetrySeen {
    telemetry::Reading reading;
    std::chrono::system_clock::time_point received;
};

struct View {
    state::State state;
    std::string self_id;
    std::string master_id;
    bool is_master = false;
    uint64_t term = 0;
    int port = 0;
    std::vector<PeerView> peers;
    bool eventlog_counting_only = false;
    uint64_t eventlog_appended = 0;
    std::map<std::string, TelemetrySeen> telemetry; // node id -> latest reading (self included)
};

class Node {
public:
    explicit Node(NodeOptions options);
    ~Node();
    Node(const Node &) = delete;
    Node &operator=(const Node &) = delete;

    // Replays the event log, binds the ports and starts the thread. Throws
    // std::runtime_error naming the port or file on failure.
    void start();
    void stop();
    int port() const;

    View view() const;
    std::vector<state::Event> events_since(int64_t since, size_t max) const;
    // Sends a command to the master and waits for its verdict.
    CommandReply submit(state::CommandBody body, std::chrono::milliseconds timeout);

    // For the worker: called on the cluster thread after every applied event
    // (event set) and after a snapshot was installed (event null). It runs
    // inside the router loop, so keep it short (hand work to another thread).
    // Register before start(). SKULK_TEST_NO_STATE_LISTENERS=1 mutes the
    // muteable ones (the worker); the custom-card sync is not muteable, as
    // tests with a muted worker still add cards.
    using Listener = std::function<void(const state::State &, const state::Event *)>;
    void add_listener(Listener listener, bool muteable = true);

    // This node's resource reading: kept as its own latest and published on
    // the telemetry topic (last write wins; not in the event log).
    void publish_telemetry(const telemetry::Reading &reading);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace skulk::cluster
