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
    ElectionKey key() const { return ElectionKey{forced_, term_, seniority_, commands_seen_, self_}; }
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
};

} // namespace skulk::cluster
