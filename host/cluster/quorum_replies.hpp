// Replies to placement changes, held back until a quorum of the cluster
// holds their events, so a change a client was told is accepted survives a
// partition (docs/architecture.md, "Partitions"). Pure bookkeeping: the
// node says how many nodes hold an event; no sockets, no threads.
#pragma once

#include "cluster/wire.hpp"
#include "state/commands.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace skulk::cluster {

class QuorumReplies {
public:
    using Clock = std::chrono::steady_clock;
    using Answer = std::function<void(const CommandReply &)>;

    // Placement changes wait for a quorum; tasks and runner reports do not
    // (they end with the session anyway, and a heartbeat's wait on every
    // request would cost latency).
    static bool needs_quorum(const state::Command &c);

    // Holds `reply` to the command whose last event is `idx` of session `term`.
    void hold(CommandReply reply, uint64_t term, int64_t idx, Clock::time_point deadline, Answer answer);

    // Answers what a quorum now holds (holders(idx) >= quorum) and fails what
    // can no longer be confirmed: a session that ended, a deadline passed.
    void settle(uint64_t session_term, size_t quorum, const std::function<size_t(int64_t)> &holders,
                Clock::time_point now);

    // Fails everything still held (the node is stopping).
    void fail_all(const std::string &why);

    bool empty() const { return held_.empty(); }

private:
    struct Held {
        CommandReply reply;
        uint64_t term;
        int64_t idx;
        Clock::time_point deadline;
        Answer answer;
    };
    std::vector<Held> held_;
};

} // namespace skulk::cluster
