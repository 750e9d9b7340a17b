#include "master/master.hpp"

#include "placement/planner.hpp"

#include <algorithm>
#include <set>

namespace skulk::master {
namespace {

using namespace state;

Decision refuse(std::string why) { return Decision{false, std::move(why), {}}; }
Decision accept(std::vector<EventBody> events) { return Decision{true, {}, std::move(events)}; }

// Minimal placement until the placement engine replaces it: the member with
// the fewest instances (ties: smallest id), whole model on one node.
NodeId least_loaded_node(const State &s) {
    NodeId best;
    size_t best_count = SIZE_MAX;
    for (const auto &[id, _] : s.nodes) {
        size_t n = 0;
        for (const auto &[iid, inst] : s.instances) n += inst.on_node(id) ? 1 : 0;
        if (n < best_count) { best = id; best_count = n; }
    }
    return best;
}

Decision place(const State &s, const PlaceInstance &c, const std::function<std::string()> &new_id) {
    if (c.model_id.empty()) return refuse("model_id must not be empty");
    if (c.sharding != "Pipeline" && c.sharding != "Tensor")
        return refuse("sharding must be \"Pipeline\" or \"Tensor\", got \"" + c.sharding + "\"");
    if (!c.replaces.empty() && !s.replacing.count(c.replaces))
        return refuse("instance " + c.replaces + " is not waiting to be re-placed (already re-placed or given up)");
    if (!c.shards.empty()) {
        // A planned layout: re-check what the master can see (the planner
        // checked memory and backends against telemetry on the way in).
        if (auto e = placement::check_layout(c.shards, 0); !e.empty()) return refuse(e);
        for (const auto &sh : c.shards)
            if (!s.nodes.count(sh.node_id)) return refuse("node " + sh.node_id + " is not a member of the cluster");
        Instance inst;
        inst.id = new_id();
        inst.model_id = c.model_id;
        inst.sharding = c.sharding;
        inst.shards = c.shards;
        std::sort(inst.shards.begin(), inst.shards.end(), [](const auto &a, const auto &b) { return a.rank < b.rank; });
        inst.context_token_limit = c.context_token_limit;
        inst.self_heal = c.self_heal;
        return accept({InstanceCreated{std::move(inst), c.replaces}});
    }
    std::vector<NodeId> nodes = c.node_ids;
    if (nodes.empty()) {
        const NodeId n = least_loaded_node(s);
        if (n.empty()) return refuse("no cluster members are known yet");
        nodes.push_back(n);
    }
    std::set<NodeId> seen;
    for (const auto &n : nodes) {
        if (!s.nodes.count(n)) return refuse("node " + n + " is not a member of the cluster");
        if (!seen.insert(n).second) return refuse("node " + n + " is listed twice");
    }
    Instance inst;
    inst.id = new_id();
    inst.model_id = c.model_id;
    inst.sharding = c.sharding;
    for (size_t r = 0; r < nodes.size(); ++r) {
        ShardAssignment sh;
        sh.node_id = nodes[r];
        sh.rank = int(r);
        sh.world_size = int(nodes.size());
        inst.shards.push_back(sh);
    }
    inst.self_heal = c.self_heal;
    return accept({InstanceCreated{std::move(inst), c.replaces}});
}

// Tasks of an instance still running: they fail (retryable) before the instance goes.
void fail_tasks_of(const State &s, const InstanceId &inst, const std::string &why, std::vector<EventBody> &out) {
    for (const auto &[tid, t] : s.tasks)
        if (t.instance_id == inst && t.in_flight()) out.push_back(TaskFailed{tid, why + "; the request may be retried"});
}

std::string with_reason(std::string what, const std::string &reason) {
    return reason.empty() ? what : what + ": " + reason;
}

// A failed instance whose policy allows it moves to State::replacing; an id
// already there is a re-placement being given up.
Decision delete_instance(const State &s, const DeleteInstance &c, const std::string &command_id) {
    auto it = s.instances.find(c.instance_id);
    if (it == s.instances.end()) {
        // Another rank's worker reporting the same failure must not cancel
        // the re-placement the first one started.
        if (s.replacing.count(c.instance_id) && c.failed)
            return refuse("instance " + c.instance_id + " was deleted already and is being re-placed");
        if (s.replacing.count(c.instance_id))
            return accept({InstanceDeleted{c.instance_id, with_reason("re-placement given up", c.reason), false}});
        return refuse("no instance " + c.instance_id);
    }
    std::vector<EventBody> ev;
    fail_tasks_of(s, c.instance_id, "instance " + c.instance_id + " was deleted", ev);
    const bool replace = c.failed && it->second.self_heal;
    ev.push_back(InstanceDeleted{c.instance_id, with_reason("deleted by command " + command_id, c.reason), replace});
    return accept(std::move(ev));
}

} // namespace

Decision decide(const State &s, const Command &cmd, const std::function<std::string()> &new_id) {
    return std::visit(
        [&](const auto &c) -> Decision {
            using T = std::decay_t<decltype(c)>;
            if constexpr (std::is_same_v<T, PlaceInstance>) {
                return place(s, c, new_id);
            } else if constexpr (std::is_same_v<T, DeleteInstance>) {
                return delete_instance(s, c, cmd.command_id);
            } else if constexpr (std::is_same_v<T, CreateTask>) {
                if (c.task_id.empty()) return refuse("task_id must not be empty");
                if (s.tasks.count(c.task_id)) return refuse("task " + c.task_id + " already exists");
                if (!s.instances.count(c.instance_id)) return refuse("no instance " + c.instance_id);
                return accept({TaskCreated{Task{c.task_id, c.instance_id, cmd.command_id, TaskStatus::Pending, {}}}});
            } else if constexpr (std::is_same_v<T, FinishTask>) {
                auto it = s.tasks.find(c.task_id);
                if (it == s.tasks.end()) return refuse("no task " + c.task_id);
                if (!it->second.in_flight()) return refuse("task " + c.task_id + " has already ended");
                return accept({TaskFinished{c.task_id}});
            } else if constexpr (std::is_same_v<T, FailTask>) {
                auto it = s.tasks.find(c.task_id);
                if (it == s.tasks.end()) return refuse("no task " + c.task_id);
                if (!it->second.in_flight()) return refuse("task " + c.task_id + " has already ended");
                return accept({TaskFailed{c.task_id, c.error_message}});
            } else if constexpr (std::is_same_v<T, ReportRunnerStatus>) {
                if (c.status.runner_id.empty()) return refuse("runner_id must not be empty");
                if (!s.instances.count(c.status.instance_id)) return refuse("no instance " + c.status.instance_id);
                return accept({RunnerStatusUpdated{c.status}});
            } else if constexpr (std::is_same_v<T, AddCustomModelCard>) {
                if (c.card.model_id.empty()) return refuse("model_id must not be empty");
                if (c.card.toml.empty()) return refuse("the card text must not be empty");
                return accept({CustomModelCardAdded{c.card}});
            } else if constexpr (std::is_same_v<T, DeleteCustomModelCard>) {
                // Accepted even when the State has no such card: a card a node
                // kept in its own dir from before (not replicated) goes too.
                // The API node answered 404 already when it knows no such card.
                if (c.model_id.empty()) return refuse("model_id must not be empty");
                return accept({CustomModelCardDeleted{c.model_id}});
            }
        },
        cmd.body);
}

std::vector<EventBody> liveness(const State &s, const LivenessInput &in) {
    std::vector<EventBody> out;
    for (const auto &[id, peer] : in.heard)
        if (!s.nodes.count(id) && in.now - peer.last_heard < in.node_timeout) out.push_back(NodeJoined{NodeInfo{id, peer.endpoint}});
    // Right after a master starts, membership is still being rebuilt from
    // live gossip; pruning now would delete carried placements.
    if (in.now - in.session_started < in.settle_grace) return out;

    std::set<NodeId> gone;
    for (const auto &[id, info] : s.nodes) {
        if (id == in.self) continue;
        auto it = in.heard.find(id);
        if (it == in.heard.end() || in.now - it->second.last_heard >= in.node_timeout) gone.insert(id);
    }
    for (const auto &[iid, inst] : s.instances) {
        bool dead = false;
        for (const auto &sh : inst.shards)
            if (gone.count(sh.node_id) || (!s.nodes.count(sh.node_id) && !in.heard.count(sh.node_id))) dead = true;
        if (!dead) continue;
        fail_tasks_of(s, iid, "a node of instance " + iid + " timed out", out);
        out.push_back(InstanceDeleted{iid, "a node of the instance timed out", inst.self_heal});
    }
    for (const auto &id : gone) out.push_back(NodeTimedOut{id});
    return out;
}

std::vector<EventBody> leave(const State &s, const NodeId &node) {
    std::vector<EventBody> out;
    if (!s.nodes.count(node)) return out;
    for (const auto &[iid, inst] : s.instances) {
        if (!inst.on_node(node)) continue;
        fail_tasks_of(s, iid, "node " + node + " left the cluster", out);
        out.push_back(InstanceDeleted{iid, "node " + node + " left the cluster", inst.self_heal});
    }
    out.push_back(NodeLeft{node});
    return out;
}

} // namespace skulk::master
