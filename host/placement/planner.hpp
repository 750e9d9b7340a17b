// The placement planner: which nodes run which layers of a model, with which
// backend, and whether every node has the memory for its share. Pure
// functions of their inputs (no clock, no I/O), so the HTTP dry-run, the
// previews and POST /instance all reach the same verdict.
#pragma once

#include "placement/model_facts.hpp"
#include "state/types.hpp"
#include "telemetry/reading.hpp"

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace skulk::placement {

// One cluster member as the planner sees it.
struct NodeFacts {
    std::string node_id;
    bool has_telemetry = false;                 // false: its reading has not arrived yet
    telemetry::Reading reading;                 // meaningful when has_telemetry
    // Promised to instances placed here whose runners have not loaded yet
    // (their memory is not out of MemAvailable yet); see reservations().
    uint64_t reserved_bytes = 0;
};

// Memory the planner may use on a node: the GPU's available memory where a
// discrete GPU reports it, else MemAvailable.
uint64_t usable_bytes(const telemetry::Reading &r);
// The same, less what is reserved for instances still loading (never below 0).
uint64_t usable_bytes(const NodeFacts &n);

// Per node, the admission of every shard placed there whose runner has not
// reached Loaded yet (no runner, Idle, Connecting, Connected, Loading).
// facts_of returns the model facts of a model id (nullopt: no card, nothing
// reserved).
std::map<std::string, uint64_t> reservations(const state::State &s,
                                             const std::function<std::optional<ModelFacts>(const std::string &)> &facts_of);

struct Request {
    std::string sharding = "Pipeline";
    int min_nodes = 1;
    std::set<std::string> excluded;
};

enum class FailureKind {
    BadRequest,          // sharding unknown/unsupported, min_nodes < 1, card unusable
    InfoPending,         // some candidate has no telemetry yet: ask again later
    ExclusionsRemovedAll,
    NoCompatibleBackend,
    NotEnoughNodes,
    InsufficientMemory,
};
const char *to_string(FailureKind k);

// What one node must hold for `layers` of the model.
struct Admission {
    uint64_t weights = 0;   // weight share x engine overhead
    uint64_t kv = 0;        // KV reservation for the context budget
    uint64_t floor = kNodeFloorBytes;
    uint64_t total() const { return weights + kv + floor; }
};
Admission admission(const ModelFacts &m, int layers);

struct Plan {
    state::Instance instance;                        // no id: the master assigns it
    std::map<std::string, uint64_t> memory_delta_by_node; // Admission::total() per node
};

struct Outcome {
    std::optional<Plan> plan;
    FailureKind kind = FailureKind::BadRequest;      // when !plan
    std::string message;                             // when !plan
    bool ok() const { return plan.has_value(); }
};

// The backend a node would run the model with: the first of the card's
// preference the node offers (and the card allows), else the allowed offer
// with the highest plugin score. Empty: none compatible.
std::string resolve_backend(const ModelFacts &m, const telemetry::Reading &r);

// Layer counts for nodes with these usable bytes: proportional, at least one
// each (largest remainders), summing to n_layers. Requires
// 1 <= usable.size() <= n_layers.
std::vector<int> split_layers(int n_layers, const std::vector<uint64_t> &usable);

// The smallest node set (>= min_nodes) that fits; ties: better backend
// preference, then more free memory.
Outcome plan(const ModelFacts &m, const std::vector<NodeFacts> &nodes, const Request &req);

// The best placement over exactly `count` nodes (for the previews).
Outcome plan_exact(const ModelFacts &m, const std::vector<NodeFacts> &nodes, const Request &req, int count);

// Checks a fully specified placement (POST /instance): ranks 0..n-1 with one
// world size, contiguous layer ranges covering 0..n_layers-1 in rank order,
// each shard's node a known member with telemetry, a backend the card allows
// and the node offers, and memory admission on every node. "" when valid.
std::string check_instance(const ModelFacts &m, const std::vector<NodeFacts> &nodes, const state::Instance &inst);

// Structure only (no model facts): what the master re-checks on a command
// that carries shards. n_layers 0: the layer count is unknown, so only
// contiguity from layer 0 is checked. "" when valid.
std::string check_layout(const std::vector<state::ShardAssignment> &shards, int n_layers);

// "3.1 GB": bytes in decimal gigabytes with one decimal (MB below 1 GB).
std::string human_bytes(uint64_t bytes);

} // namespace skulk::placement
