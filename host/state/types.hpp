// The cluster's replicated state: plain C++ values, no JSON, no sockets.
// Every node holds one State and changes it only through apply() (apply.hpp),
// so two nodes that applied the same indexed events hold equal States.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace skulk::state {

using NodeId = std::string;
using InstanceId = std::string;
using TaskId = std::string;

// A member as the master saw it join: its id and its cluster endpoint.
struct NodeInfo {
    NodeId id;
    std::string endpoint; // tcp://host:port of its PUB socket (ROUTER is port+1)
    bool operator==(const NodeInfo &) const = default;
};

// One shard of an instance on one node. Opaque to the cluster core; the
// placement code owns the meaning of the fields and may append more.
struct ShardAssignment {
    NodeId node_id;
    int rank = 0;
    int world_size = 1;
    int first_layer = 0;
    int last_layer = -1;      // -1: through the last layer
    std::string backend;      // resolved backend tag, e.g. "cpu_blas-cpu"
    bool operator==(const ShardAssignment &) const = default;
};

struct Instance {
    InstanceId id;
    std::string model_id;
    std::string sharding = "Pipeline";
    std::vector<ShardAssignment> shards;
    int64_t context_token_limit = 0;
    // Self-healing policy: when a node of the instance dies (times out or
    // leaves) or a pipeline rank's runner fails, the master plans the model
    // again on the surviving members (State::replacing). On unless the
    // placement said "self_heal": false.
    bool self_heal = true;
    bool on_node(const NodeId &node) const {
        for (const auto &s : shards)
            if (s.node_id == node) return true;
        return false;
    }
    bool operator==(const Instance &) const = default;
};

// API.md's runner states.
enum class RunnerPhase { Idle, Connecting, Connected, Loading, Loaded, WarmingUp, Ready, Running, ShuttingDown, Shutdown, Failed };
const char *to_string(RunnerPhase p);
bool parse_runner_phase(const std::string &s, RunnerPhase &out);

struct RunnerStatus {
    std::string runner_id;
    InstanceId instance_id;
    NodeId node_id;
    RunnerPhase phase = RunnerPhase::Idle;
    int layers_loaded = 0;
    int total_layers = 0;
    std::string error_message;
    // Where other nodes reach this runner (empty until it has bound them):
    // the requests ROUTER (tcp) for API nodes without a local rank 0, and
    // rank 0's pipeline hub that the other ranks of its instance join.
    std::string request_endpoint;
    std::string pipeline_endpoint;
    bool operator==(const RunnerStatus &) const = default;
};

enum class TaskStatus { Pending, Running, Complete, Failed };
const char *to_string(TaskStatus s);
bool parse_task_status(const std::string &s, TaskStatus &out);

struct Task {
    TaskId id;
    InstanceId instance_id;
    std::string command_id;
    TaskStatus status = TaskStatus::Pending;
    std::string error_message;
    bool in_flight() const { return status == TaskStatus::Pending || status == TaskStatus::Running; }
    bool operator==(const Task &) const = default;
};

// A user-added model card, replicated so every node (and a late joiner's
// snapshot) has it; each node writes it into its own custom cards dir.
// `toml` is the card as the store writes it (cards::card_to_toml), so every
// node parses the very same text.
struct CustomCard {
    std::string model_id;
    std::string toml;
    bool operator==(const CustomCard &) const = default;
};

struct State {
    uint64_t term = 0;                 // the master session these events belong to
    NodeId master_node_id;
    int64_t last_event_applied_idx = -1;
    std::map<NodeId, NodeInfo> nodes;
    std::map<InstanceId, Instance> instances;
    std::map<std::string, RunnerStatus> runners;
    std::map<TaskId, Task> tasks;
    std::map<std::string, CustomCard> custom_cards; // model id -> card
    // Instances lost to a failure whose policy asks for a new placement: the
    // old instance (id, model, layout) until an InstanceCreated replaces it or
    // the re-placement is given up. Requests for its model get 503 meanwhile.
    std::map<InstanceId, Instance> replacing;
    bool operator==(const State &) const = default;
};

} // namespace skulk::state
