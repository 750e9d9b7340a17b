#include "cluster/quorum_replies.hpp"

namespace skulk::cluster {

bool QuorumReplies::needs_quorum(const state::Command &c) {
    return std::holds_alternative<state::PlaceInstance>(c.body) || std::holds_alternative<state::DeleteInstance>(c.body) ||
           std::holds_alternative<state::AddCustomModelCard>(c.body) ||
           std::holds_alternative<state::DeleteCustomModelCard>(c.body);
}

void QuorumReplies::hold(CommandReply reply, uint64_t term, int64_t idx, Clock::time_point deadline, Answer answer) {
    held_.push_back(Held{std::move(reply), term, idx, deadline, std::move(answer)});
}

void QuorumReplies::settle(uint64_t session_term, size_t quorum, const std::function<size_t(int64_t)> &holders,
                           Clock::time_point now) {
    for (auto it = held_.begin(); it != held_.end();) {
        CommandReply r = it->reply;
        // Not confirmed is "unavailable" (the API answers 503: retry).
        if (session_term != it->term) {
            r = unavailable_reply(r.command_id, "the master lost its quorum before a majority confirmed the change; it may "
                                          "not have taken effect: retry");
        } else if (holders(it->idx) < quorum) {
            if (now < it->deadline) {
                ++it;
                continue;
            }
            r = unavailable_reply(r.command_id,
                            "a majority of the cluster did not confirm the change in time; it may or may not take effect");
        }
        const Answer answer = std::move(it->answer);
        it = held_.erase(it);
        answer(r);
    }
}

void QuorumReplies::fail_all(const std::string &why) {
    auto held = std::move(held_);
    held_.clear();
    for (auto &h : held) h.answer(unavailable_reply(h.reply.command_id, why));
}

} // namespace skulk::cluster
