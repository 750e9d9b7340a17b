#include "api/cluster_routes.hpp"

#include "api/command_answer.hpp"

#include "api/placement_routes.hpp"
#include "common/version.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <ctime>

namespace skulk::api {
namespace {

using nlohmann::json;
using namespace skulk::state;

std::string iso8601(std::chrono::system_clock::time_point t) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
    const std::time_t secs = std::time_t(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[40];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    char out[48];
    std::snprintf(out, sizeof out, "%s.%03dZ", buf, int(ms % 1000));
    return out;
}

json to_api(const ShardAssignment &s) {
    return {{"nodeId", s.node_id}, {"rank", s.rank}, {"worldSize", s.world_size}, {"firstLayer", s.first_layer},
            {"lastLayer", s.last_layer}, {"backend", s.backend}};
}
json to_api(const Instance &i) {
    json shards = json::array();
    for (const auto &s : i.shards) shards.push_back(to_api(s));
    return {{"instanceId", i.id}, {"modelId", i.model_id}, {"sharding", i.sharding}, {"shards", std::move(shards)},
            {"contextTokenLimit", i.context_token_limit}, {"selfHeal", i.self_heal}};
}
json to_api(const RunnerStatus &r) {
    json status = {{"kind", to_string(r.phase)}};
    if (r.phase == RunnerPhase::Loading) {
        status["layersLoaded"] = r.layers_loaded;
        status["totalLayers"] = r.total_layers;
    }
    if (r.phase == RunnerPhase::Failed) status["errorMessage"] = r.error_message;
    json j = {{"runnerId", r.runner_id}, {"instanceId", r.instance_id}, {"nodeId", r.node_id}, {"status", std::move(status)}};
    if (!r.request_endpoint.empty()) j["requestEndpoint"] = r.request_endpoint;
    if (!r.pipeline_endpoint.empty()) j["pipelineEndpoint"] = r.pipeline_endpoint;
    return j;
}
json to_api(const Task &t) {
    json j = {{"taskId", t.id}, {"instanceId", t.instance_id}, {"commandId", t.command_id}, {"status", to_string(t.status)}};
    if (!t.error_message.empty()) j["errorMessage"] = t.error_message;
    return j;
}
json to_api(const NodeInfo &n) { return {{"nodeId", n.id}, {"endpoint", n.endpoint}}; }

json event_to_api(const Event &e) {
    json body = std::visit(
        [](const auto &x) -> json {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, SessionStarted>) {
                json carried = json::array();
                for (const auto &i : x.carried_instances) carried.push_back(to_api(i));
                return {{"masterNodeId", x.master_node_id}, {"carriedInstances", std::move(carried)}};
            } else if constexpr (std::is_same_v<T, NodeJoined>) return to_api(x.node);
            else if constexpr (std::is_same_v<T, NodeLeft> || std::is_same_v<T, NodeTimedOut>) return {{"nodeId", x.node_id}};
            else if constexpr (std::is_same_v<T, InstanceCreated>) return {{"instance", to_api(x.instance)}};
            else if constexpr (std::is_same_v<T, InstanceDeleted>)
                return {{"instanceId", x.instance_id}, {"reason", x.reason}, {"replace", x.replace}};
            else if constexpr (std::is_same_v<T, RunnerStatusUpdated>) return to_api(x.status);
            else if constexpr (std::is_same_v<T, TaskCreated>) return {{"task", to_api(x.task)}};
            else if constexpr (std::is_same_v<T, TaskFinished>) return {{"taskId", x.task_id}};
            else if constexpr (std::is_same_v<T, TaskFailed>) return {{"taskId", x.task_id}, {"errorMessage", x.error_message}};
            else if constexpr (std::is_same_v<T, CustomModelCardAdded>) return {{"modelId", x.card.model_id}};
            else if constexpr (std::is_same_v<T, CustomModelCardDeleted>) return {{"modelId", x.model_id}};
        },
        e.body);
    return {{"idx", e.idx}, {"term", e.term}, {"type", event_name(e.body)}, {"event", std::move(body)}};
}

// The cluster ports' guard, so an operator sees an unguarded cluster.
json security_to_api(const cluster::View &v) {
    json j = {{"clusterSecret", v.cluster_secret}, {"encryption", "curve"}, {"refusedConnections", v.refused_connections}};
    if (!v.cluster_secret) j["warning"] = cluster::kNoSecretWarning;
    return j;
}

json state_to_api(const cluster::View &v) {
    const State &s = v.state;
    json instances = json::object(), runners = json::object(), tasks = json::object(), nodes = json::object(),
         last_seen = json::object();
    for (const auto &[id, i] : s.instances) instances[id] = to_api(i);
    json replacing = json::object(); // instances lost to a failure, being placed again
    for (const auto &[id, i] : s.replacing) replacing[id] = to_api(i);
    for (const auto &[id, r] : s.runners) runners[id] = to_api(r);
    for (const auto &[id, t] : s.tasks) tasks[id] = to_api(t);
    for (const auto &[id, n] : s.nodes) nodes[id] = to_api(n);
    // lastSeen is this node's own view (heartbeats are not event-sourced).
    last_seen[v.self_id] = iso8601(std::chrono::system_clock::now());
    json topo_nodes = json::array(), connections = json::array();
    for (const auto &[id, n] : s.nodes) topo_nodes.push_back(id);
    for (const auto &p : v.peers) {
        last_seen[p.node_id] = iso8601(p.last_heard);
        if (p.alive) connections.push_back({{"source", v.self_id}, {"sink", p.node_id}});
    }
    return {{"instances", std::move(instances)},
            {"replacing", std::move(replacing)},
            {"runners", std::move(runners)},
            {"downloads", json::object()},
            {"tasks", std::move(tasks)},
            {"nodes", std::move(nodes)},
            {"lastSeen", std::move(last_seen)},
            {"topology", {{"nodes", std::move(topo_nodes)}, {"connections", std::move(connections)}}},
            {"lastEventAppliedIdx", s.last_event_applied_idx},
            {"term", s.term},
            {"masterNodeId", v.master_id.empty() ? json(nullptr) : json(v.master_id)},
            {"tracingEnabled", false},
            {"security", security_to_api(v)}};
}

} // namespace

void register_cluster_routes(HttpServer &server, cluster::Node &node) {
    server.route("GET", "/state", [&node](const HttpRequest &, HttpResponse &res) {
        const auto view = node.view();
        json s = state_to_api(view);
        add_telemetry_to_state(view, s); // nodeMemory, nodeSystem, nodeDisk, nodeResources
        res.send_json(200, s.dump());
    });

    server.route("GET", "/events", [&node](const HttpRequest &req, HttpResponse &res) {
        int64_t since = -1;
        if (auto it = req.query.find("since"); it != req.query.end()) {
            try {
                size_t used = 0;
                since = std::stoll(it->second, &used);
                if (used != it->second.size()) throw std::invalid_argument("trailing");
            } catch (const std::exception &) {
                return res.send_error(400, "query parameter since must be an integer event index, got \"" + it->second + "\"",
                                      "invalid_request_error", "invalid_since");
            }
        }
        json events = json::array();
        for (const auto &e : node.events_since(since, 10000)) events.push_back(event_to_api(e));
        res.send_json(200, json{{"events", std::move(events)}}.dump());
    });

    server.route("GET", "/v1/diagnostics/node", [&node](const HttpRequest &, HttpResponse &res) {
        const auto v = node.view();
        json peers = json::array();
        for (const auto &p : v.peers)
            peers.push_back({{"nodeId", p.node_id}, {"endpoint", p.endpoint}, {"alive", p.alive}, {"lastSeen", iso8601(p.last_heard)}});
        res.send_json(200, json{{"nodeId", v.self_id},
                                {"isMaster", v.is_master},
                                {"masterNodeId", v.master_id.empty() ? json(nullptr) : json(v.master_id)},
                                {"term", v.term},
                                {"version", kVersion},
                                {"clusterPort", v.port},
                                {"peers", std::move(peers)},
                                {"eventLog", {{"mode", v.eventlog_counting_only ? "counting-only" : "persisting"},
                                              {"appended", v.eventlog_appended}}}}
                               .dump());
    });

    server.route("GET", "/instance/{id}", [&node](const HttpRequest &req, HttpResponse &res) {
        const auto v = node.view();
        auto it = v.state.instances.find(req.params.at(0));
        if (it == v.state.instances.end())
            return res.send_error(404, "No instance " + req.params.at(0), "invalid_request_error", "instance_not_found");
        json j = to_api(it->second);
        json runners = json::object();
        for (const auto &[id, r] : v.state.runners)
            if (r.instance_id == it->first) runners[id] = to_api(r);
        j["runners"] = std::move(runners);
        res.send_json(200, j.dump());
    });

    server.route("DELETE", "/instance/{id}", [&node](const HttpRequest &req, HttpResponse &res) {
        const std::string id = req.params.at(0);
        if (!node.view().state.instances.count(id))
            return res.send_error(404, "No instance " + id, "invalid_request_error", "instance_not_found");
        const auto r = node.submit(DeleteInstance{id, false, {}}, std::chrono::seconds(15));
        if (!r.ok) return send_command_failure(res, r);
        res.send_json(200, json{{"message", "Command received."}, {"command_id", r.command_id}, {"instance_id", id}}.dump());
    });
}

} // namespace skulk::api
