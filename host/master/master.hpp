// The master's decisions: validate commands into events and find the events
// liveness calls for. It never mutates State itself; the caller indexes the
// returned bodies (Indexer), applies them and publishes them.
#pragma once

#include "state/commands.hpp"
#include "state/events.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace skulk::master {

struct Decision {
    bool ok = false;
    std::string error;                    // why the command was refused (ok == false)
    std::vector<state::EventBody> events; // what to index (ok == true)
};

// Validates one command against the current state. new_id makes instance ids
// (injected so tests are deterministic). Self-healing: a DeleteInstance with
// `failed`, a node's time-out and a node's leaving delete the instance with
// `replace` set when its policy allows (State::replacing); a PlaceInstance
// with `replaces` is accepted once per entry there, so of several nodes
// trying to re-place one instance only the first succeeds.
Decision decide(const state::State &s, const state::Command &cmd, const std::function<std::string()> &new_id);

struct LivenessInput {
    std::chrono::steady_clock::time_point now;
    std::chrono::steady_clock::time_point session_started;
    std::chrono::seconds node_timeout{30};       // SKULK_NODE_TIMEOUT_SECONDS
    std::chrono::seconds settle_grace{60};       // SKULK_TOPOLOGY_SETTLE_GRACE_SECONDS
    state::NodeId self;
    // Every peer this master currently hears (self included), with its endpoint
    // and when it was last heard.
    struct Peer { std::string endpoint; std::chrono::steady_clock::time_point last_heard; };
    std::map<state::NodeId, Peer> heard;
};

// Events liveness calls for right now: joins of newly heard nodes; after the
// settle grace, time-outs of silent nodes (their in-flight tasks fail first,
// then their instances go, then the node) and deletion of carried instances
// whose nodes never came back.
std::vector<state::EventBody> liveness(const state::State &s, const LivenessInput &in);

// A node that said goodbye: its in-flight tasks fail, its instances go (to
// State::replacing when their policy allows), it leaves.
std::vector<state::EventBody> leave(const state::State &s, const state::NodeId &node);

// Assigns dense indices within one term.
class Indexer {
public:
    void start(uint64_t term) { term_ = term; next_ = 0; }
    state::Event next(state::EventBody body) { return state::Event{term_, next_++, std::move(body)}; }
    uint64_t term() const { return term_; }
    int64_t next_idx() const { return next_; }

private:
    uint64_t term_ = 0;
    int64_t next_ = 0;
};

} // namespace skulk::master
