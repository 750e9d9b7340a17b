// The cluster's HTTP routes: GET /state, GET /events?since=N,
// GET /v1/diagnostics/node and a minimal POST /place_instance. The JSON
// (camelCase, the earlier product's field names) of State lives here, not in host/state.
#pragma once

#include "api/http_server.hpp"
#include "cluster/node.hpp"

namespace skulk::api {

void register_cluster_routes(HttpServer &server, cluster::Node &node);

} // namespace skulk::api
