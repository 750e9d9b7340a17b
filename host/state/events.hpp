// Indexed events: the only way State changes. The master assigns idx (dense,
// from 0 in each session/term); every node applies them in idx order.
#pragma once

#include "state/types.hpp"

#include <variant>

namespace skulk::state {

// Event 0 of every master session. Carries the instances the new master
// keeps from the previous session (placements survive a master change);
// tasks, runners and membership start empty and are rebuilt from live nodes.
// Custom model cards are carried the same way.
struct SessionStarted {
    NodeId master_node_id;
    std::vector<Instance> carried_instances;
    std::vector<CustomCard> carried_custom_cards = {};
    std::vector<Instance> carried_replacing = {}; // State::replacing of the prior view
    bool operator==(const SessionStarted &) const = default;
};
struct NodeJoined { NodeInfo node; bool operator==(const NodeJoined &) const = default; };
struct NodeLeft { NodeId node_id; bool operator==(const NodeLeft &) const = default; };
struct NodeTimedOut { NodeId node_id; bool operator==(const NodeTimedOut &) const = default; };
struct InstanceCreated {
    Instance instance;
    InstanceId replaces = {}; // non-empty: the entry of State::replacing this placement ends
    bool operator==(const InstanceCreated &) const = default;
};
struct InstanceDeleted {
    InstanceId instance_id;
    std::string reason;
    // The instance failed and its policy asks for a new placement: it moves to
    // State::replacing. Deleting an id that is in State::replacing (false)
    // gives that re-placement up.
    bool replace = false;
    bool operator==(const InstanceDeleted &) const = default;
};
struct RunnerStatusUpdated { RunnerStatus status; bool operator==(const RunnerStatusUpdated &) const = default; };
struct TaskCreated { Task task; bool operator==(const TaskCreated &) const = default; };
struct TaskFinished { TaskId task_id; bool operator==(const TaskFinished &) const = default; };
struct TaskFailed {
    TaskId task_id;
    std::string error_message;
    bool operator==(const TaskFailed &) const = default;
};

struct CustomModelCardAdded { CustomCard card; bool operator==(const CustomModelCardAdded &) const = default; };
struct CustomModelCardDeleted { std::string model_id; bool operator==(const CustomModelCardDeleted &) const = default; };

using EventBody = std::variant<SessionStarted, NodeJoined, NodeLeft, NodeTimedOut, InstanceCreated, InstanceDeleted,
                               RunnerStatusUpdated, TaskCreated, TaskFinished, TaskFailed,
                               CustomModelCardAdded, CustomModelCardDeleted>;

struct Event {
    uint64_t term = 0;
    int64_t idx = 0;
    EventBody body;
    bool operator==(const Event &) const = default;
};

// Stable names, used on the wire, in the log and in /events.
const char *event_name(const EventBody &body);

} // namespace skulk::state
