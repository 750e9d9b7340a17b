// Bully election as a small state machine: no sockets, no threads. The
// node feeds it membership, heartbeats and election messages and sends
// whatever it returns on the election topic.
//
// - A campaign starts only when no live master is known and membership has
//   been stable for `settle` (nodes starting together first see each other,
//   so campaigns do not cancel each other: no livelock).
// - A campaigner collects answers; it wins at once when every live peer has
//   answered and none outranks it, else when `campaign` (3 s) elapses with no
//   higher answer. Outranked, it waits for the coordinator and campaigns
//   again if none comes within `campaign`.
// - A coordinator with a higher term always wins; a sitting master answers
//   a campaign by re-announcing itself, so late joiners simply adopt it.
// - Quorum (set_quorum): with fewer than a majority of the known members
//   alive, a node neither campaigns nor stays master, so the minority side
//   of a partition has no master (docs/architecture.md, "Partitions").
#pragma once

#include "cluster/wire.hpp"

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace skulk::cluster {

class Election {
public:
    using Clock = std::chrono::steady_clock;
    struct Config {
        std::chrono::milliseconds campaign{3000};
        std::chrono::milliseconds settle{750};
    };

    Election(std::string self_id, bool forced, Config config, Clock::time_point now);

    // Call often. alive: the peers heard recently (self excluded).
    std::vector<ElectionMsg> tick(Clock::time_point now, const std::set<std::string> &alive);
    std::vector<ElectionMsg> on_message(const std::string &from, const ElectionMsg &msg, Clock::time_point now);
    // A peer's heartbeat says whom it follows; a newer term than ours is
    // adopted. Two masters of one term that hear each other: the higher key
    // moves to a newer term and announces it (the returned messages).
    std::vector<ElectionMsg> on_heartbeat(const std::string &from, const Heartbeat &hb,
                                          const std::set<std::string> &alive);

    void set_commands_seen(uint64_t n) { commands_seen_ = n; }
    // The node `id` restarted (a new process under its lasting id): if it
    // was our master, it is not any more (its new process knows nothing of
    // it), so a new election follows.
    void peer_restarted(const std::string &id) {
        if (master_ == id && id != self_) master_.clear();
    }
    ElectionKey key() const { return ElectionKey{forced_, term_, commands_seen_, seniority_, self_}; }
    // How many nodes (self included) must be alive for this node to lead or
    // campaign: a majority of the members it knows, 1 for one or two
    // members (see quorum_of). A master that falls below it steps down.
    void set_quorum(size_t q) { quorum_ = q; }
    size_t quorum() const { return quorum_; }
    const std::string &master() const { return master_; }
    uint64_t term() const { return term_; }
    bool is_master() const { return master_ == self_; }
    bool campaigning() const { return campaigning_; }

private:
    ElectionMsg coordinator() const { return ElectionMsg{ElectionKind::Coordinator, key(), term_}; }
    void adopt(const std::string &master, uint64_t term, bool master_forced);

    std::string self_;
    bool forced_;
    Config config_;
    uint64_t term_ = 0;
    uint64_t seniority_ = 0;
    uint64_t commands_seen_ = 0;
    std::string master_;
    bool master_forced_ = false;
    std::set<std::string> members_;
    Clock::time_point members_changed_;
    bool campaigning_ = false;
    Clock::time_point campaign_started_;
    std::map<std::string, ElectionKey> answers_;
    size_t quorum_ = 1;
};

// The quorum of `members` nodes: a strict majority from 3 up; 1 for one or
// two (two nodes cannot tell a dead peer from a cut link, and a two-node
// cluster that stopped at every failure would be worse than a split).
inline size_t quorum_of(size_t members) { return members <= 2 ? 1 : members / 2 + 1; }

} // namespace skulk::cluster
