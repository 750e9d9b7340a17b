// The inference routes: every route of every adapter plugin in the Registry
// (adapter-openai: POST /v1/chat/completions, POST /v1/completions) served
// by the local rank-0 runner of a Ready instance of the requested model,
// plus POST /v1/cancel/{command_id} and GET /metrics.
//
// One request: adapter.decode -> canonical request -> pick a Ready instance
// (404 none placed, 503 + Retry-After placed but not ready in time or being
// re-placed after a failure) -> "generate" to the
// runner over its own DEALER (runner_client.hpp) -> wait for start/error ->
// stream each event through adapter.encode to the client. Client disconnect
// or POST /v1/cancel sends "cancel"; a runner that dies mid-request ends it
// with a retryable 500 error event within a poll interval.
#pragma once

#include "api/http_server.hpp"
#include "api/metrics.hpp"
#include "cluster/node.hpp"
#include "plugin/registry.hpp"
#include "worker/worker.hpp"

#include <chrono>
#include <memory>

namespace skulk::api {

struct InferenceOptions {
    // How long a request for a placed model waits for its runner to be Ready.
    std::chrono::milliseconds ready_wait{15000};
    // Idle time after which a stream gets a ": keep-alive" comment.
    std::chrono::milliseconds keepalive_interval{10000};
    // Silence from a live runner after which the request fails.
    std::chrono::milliseconds runner_silence_limit{30000};
    // The cluster secret: runner connections then speak CURVE.
    std::string cluster_secret;
};

// Registers the routes. The returned object owns the shared serving state
// (ZeroMQ context, request table, metrics): keep it alive while the server runs.
class InferenceRoutes;
std::shared_ptr<InferenceRoutes> register_inference_routes(HttpServer &server, const plugin::Registry &plugins,
                                                           cluster::Node &node, worker::Worker &worker,
                                                           InferenceOptions options = {});

} // namespace skulk::api
