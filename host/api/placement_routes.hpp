// The placement routes (docs/architecture.md "Placement"):
//   POST /place_instance        dry-runs the planner, then asks the master to
//                               create the planned instance
//   GET  /instance/previews     every candidate (sharding x node count)
//   POST /instance              a fully specified placement, validated
// and the telemetry keys of GET /state (nodeMemory, nodeSystem, nodeDisk,
// nodeResources). Register these before the cluster routes: the first
// matching route wins, and /instance/previews must beat /instance/{id}.
#pragma once

#include "api/http_server.hpp"
#include "cards/card_store.hpp"
#include "cluster/node.hpp"

#include <nlohmann/json.hpp>

namespace skulk::api {

void register_placement_routes(HttpServer &server, cluster::Node &node, cards::CardStore &cards);

// Adds nodeMemory / nodeSystem / nodeDisk / nodeResources (each keyed by node
// id, members with a reading only) to a /state object.
void add_telemetry_to_state(const cluster::View &view, nlohmann::json &state);

} // namespace skulk::api
