// Placing a model on the live cluster, written once for every caller
// (POST /place_instance, --place, a refused shard's wider re-plan, and
// self-healing): card -> facts -> plan -> command -> submit. The planner
// (placement/) and the master's checks (master/) stay pure; this folder is
// the glue that reads the live cluster::View and talks to the master.
#pragma once

#include "cards/card_store.hpp"
#include "cluster/node.hpp"
#include "placement/planner.hpp"

#include <chrono>
#include <string>
#include <vector>

namespace skulk::placing {

// Why a placement did not happen, by kind: callers map kinds to their
// answers (api/placement_routes' one table: HTTP statuses) and to retries
// (the worker retries `unavailable` and `info_pending`), never the text.
enum class Failure {
    none,
    no_card,        // no model card for the id
    plan,           // the planner refused: see `plan_kind`
    info_pending,   // some node's telemetry has not arrived yet: ask again later
    data_dir_full,  // the nodes that would fit have no room for a runner's files
    model_file,     // a shard here would open a missing or corrupt model file
    unavailable,    // no master answered: retry shortly
    refused,        // the master refused the layout: see `refusal`
};
const char *to_string(Failure f);

struct Request {
    std::string model_id;
    placement::Request plan;           // sharding, min_nodes, excluded nodes
    std::vector<std::string> pinned;   // non-empty: only these nodes
    bool self_heal = true;             // state::Instance::self_heal
    std::string replaces;              // the State::replacing entry this ends
    std::chrono::milliseconds info_wait{0};   // how long to wait for missing telemetry
    std::chrono::milliseconds submit_timeout{5000};
};

struct Placed {
    Failure failure = Failure::none;
    placement::FailureKind plan_kind = placement::FailureKind::BadRequest; // failure == plan / info_pending
    state::Refusal refusal = state::Refusal::none;                         // failure == refused / unavailable
    std::string message;      // why, for a person (names nodes, files, numbers)
    std::string instance_id;  // when placed
    std::string command_id;
    state::Instance instance; // the planned layout (no id) when placed
    bool ok() const { return failure == Failure::none; }
};

// A runner writes files in its node's data dir once placed (its socket, the
// chat template): a node with less room than this is left out of the plan.
constexpr uint64_t kRunnerFilesFloor = 1 << 20;

Placed place(cluster::Node &node, const cards::CardStore &cards, const Request &req);

// The shard nodes whose latest telemetry shows less room than a runner
// needs (kRunnerFilesFloor); `why` gets one clause per node.
std::vector<std::string> short_of_disk(const std::vector<state::ShardAssignment> &shards, const cluster::View &view,
                                       std::string &why);

} // namespace skulk::placing
