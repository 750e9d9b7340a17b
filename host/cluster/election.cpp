#include "cluster/election.hpp"

namespace skulk::cluster {

Election::Election(std::string self_id, bool forced, Config config, Clock::time_point now)
    : self_(std::move(self_id)), forced_(forced), config_(config), members_changed_(now) {}

void Election::adopt(const std::string &master, uint64_t term, bool master_forced) {
    master_ = master;
    master_forced_ = master_forced;
    term_ = term;
    campaigning_ = false;
    answers_.clear();
}

std::vector<ElectionMsg> Election::tick(Clock::time_point now, const std::set<std::string> &alive) {
    std::vector<ElectionMsg> out;
    if (alive != members_) {
        members_ = alive;
        members_changed_ = now;
    }
    if (!master_.empty() && master_ != self_ && !alive.count(master_)) master_.clear(); // master lost
    // On the minority side of a partition nobody leads: no change is
    // accepted there that the majority's master would not know of.
    const bool quorate = alive.size() + 1 >= quorum_;
    if (!quorate && (is_master() || campaigning_)) {
        master_.clear();
        campaigning_ = false;
        answers_.clear();
    }
    if (!quorate) return out;
    // --force-master: a forced node takes over from any master that is not.
    if (forced_ && !master_.empty() && master_ != self_ && !master_forced_) master_.clear();
    if (!master_.empty()) return out;

    if (!campaigning_) {
        if (now - members_changed_ < config_.settle) return out;
        campaigning_ = true;
        campaign_started_ = now;
        answers_.clear();
        out.push_back(ElectionMsg{ElectionKind::Campaign, key(), term_});
        return out;
    }
    const ElectionKey mine = key();
    bool outranked = false, all_answered = true;
    for (const auto &[id, k] : answers_)
        if (alive.count(id) && k > mine) outranked = true;
    for (const auto &id : alive)
        if (!answers_.count(id)) all_answered = false;
    const bool timed_out = now - campaign_started_ >= config_.campaign;
    if (outranked) {
        if (timed_out) { // the higher node never took over: try again
            campaign_started_ = now;
            answers_.clear();
            out.push_back(ElectionMsg{ElectionKind::Campaign, key(), term_});
        }
        return out;
    }
    if (all_answered || timed_out) {
        uint64_t highest = term_;
        for (const auto &[id, k] : answers_) highest = std::max(highest, k.clock);
        adopt(self_, highest + 1, forced_);
        ++seniority_;
        out.push_back(coordinator());
    }
    return out;
}

std::vector<ElectionMsg> Election::on_message(const std::string &from, const ElectionMsg &msg, Clock::time_point) {
    std::vector<ElectionMsg> out;
    switch (msg.kind) {
    case ElectionKind::Campaign:
        // A sitting master settles it at once; anyone else reports its rank.
        out.push_back(is_master() ? coordinator() : ElectionMsg{ElectionKind::Answer, key(), term_});
        break;
    case ElectionKind::Answer:
        if (campaigning_) answers_[from] = msg.key;
        break;
    case ElectionKind::Coordinator:
        if (forced_ && !msg.key.forced && msg.term <= term_) break; // --force-master does not yield
        if (msg.term > term_) {
            adopt(from, msg.term, msg.key.forced);
        } else if (msg.term == term_) {
            if (is_master() && from != self_) {
                if (msg.key > key()) adopt(from, msg.term, msg.key.forced); // two masters of one term: the higher rank stays
                else out.push_back(coordinator());
            } else if (master_.empty() || master_ == from) {
                adopt(from, msg.term, msg.key.forced);
            }
        } else if (is_master()) {
            out.push_back(coordinator()); // a stale coordinator: remind it who leads
        }
        break;
    }
    return out;
}

std::vector<ElectionMsg> Election::on_heartbeat(const std::string &from, const Heartbeat &hb,
                                                const std::set<std::string> &alive) {
    std::vector<ElectionMsg> out;
    // Another master of our own term: each won while it heard nobody (a node
    // slow to reach its peers campaigns alone after `settle`), and its
    // coordinator reached no one. Equal terms change nobody's mind, so the
    // higher key takes a newer term, which every node then follows.
    if (is_master() && hb.master_id == from && hb.master_term == term_) {
        if (key() > hb.key) {
            ++term_;
            out.push_back(coordinator());
        }
        return out;
    }
    if (hb.master_id.empty() || hb.master_id == self_ || hb.master_term <= term_) return out;
    // Follow a newer term only if its master is itself reachable.
    if (hb.master_id == from) adopt(hb.master_id, hb.master_term, hb.key.forced);
    else if (alive.count(hb.master_id)) adopt(hb.master_id, hb.master_term, false);
    return out;
}

} // namespace skulk::cluster
