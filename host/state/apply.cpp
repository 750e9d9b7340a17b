#include "state/apply.hpp"

#include <type_traits>

namespace skulk::state {
namespace {

// Everything attached to an instance goes with it.
void drop_instance(State &s, const InstanceId &id) {
    s.instances.erase(id);
    std::erase_if(s.runners, [&](const auto &kv) { return kv.second.instance_id == id; });
}

void drop_node(State &s, const NodeId &node) {
    s.nodes.erase(node);
    std::erase_if(s.runners, [&](const auto &kv) { return kv.second.node_id == node; });
}

} // namespace

State apply(State s, const Event &event) {
    std::visit(
        [&](const auto &e) {
            using T = std::decay_t<decltype(e)>;
            if constexpr (std::is_same_v<T, SessionStarted>) {
                // A new session: only the carried instances survive.
                s = State{};
                s.master_node_id = e.master_node_id;
                for (const auto &inst : e.carried_instances) s.instances[inst.id] = inst;
                for (const auto &card : e.carried_custom_cards) s.custom_cards[card.model_id] = card;
                for (const auto &inst : e.carried_replacing) s.replacing[inst.id] = inst;
            } else if constexpr (std::is_same_v<T, NodeJoined>) {
                s.nodes[e.node.id] = e.node;
            } else if constexpr (std::is_same_v<T, NodeLeft>) {
                drop_node(s, e.node_id);
            } else if constexpr (std::is_same_v<T, NodeTimedOut>) {
                drop_node(s, e.node_id);
            } else if constexpr (std::is_same_v<T, InstanceCreated>) {
                s.instances[e.instance.id] = e.instance;
                if (!e.replaces.empty()) s.replacing.erase(e.replaces);
            } else if constexpr (std::is_same_v<T, InstanceDeleted>) {
                s.replacing.erase(e.instance_id);
                if (auto it = s.instances.find(e.instance_id); e.replace && it != s.instances.end())
                    s.replacing[e.instance_id] = it->second;
                drop_instance(s, e.instance_id);
            } else if constexpr (std::is_same_v<T, RunnerStatusUpdated>) {
                s.runners[e.status.runner_id] = e.status;
            } else if constexpr (std::is_same_v<T, TaskCreated>) {
                s.tasks[e.task.id] = e.task;
            } else if constexpr (std::is_same_v<T, TaskFinished>) {
                if (auto it = s.tasks.find(e.task_id); it != s.tasks.end()) it->second.status = TaskStatus::Complete;
            } else if constexpr (std::is_same_v<T, CustomModelCardAdded>) {
                s.custom_cards[e.card.model_id] = e.card;
            } else if constexpr (std::is_same_v<T, CustomModelCardDeleted>) {
                s.custom_cards.erase(e.model_id);
            } else if constexpr (std::is_same_v<T, TaskFailed>) {
                if (auto it = s.tasks.find(e.task_id); it != s.tasks.end()) {
                    it->second.status = TaskStatus::Failed;
                    it->second.error_message = e.error_message;
                }
            }
        },
        event.body);
    s.term = event.term;
    s.last_event_applied_idx = event.idx;
    return s;
}

} // namespace skulk::state
