#include "api/placement_routes.hpp"

#include "api/command_answer.hpp"
#include "api/model_routes.hpp"
#include "log/logging.hpp"
#include "placing/cluster_facts.hpp"
#include "placing/place.hpp"
#include "placement/planner.hpp"

#include <chrono>
#include <cstdlib>
#include <sstream>
#include <thread>

namespace skulk::api {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// How long POST /place_instance waits for missing telemetry before 503.
constexpr auto kInfoWait = 15s;

json shard_json(const state::ShardAssignment &s) {
    return {{"nodeId", s.node_id}, {"rank", s.rank}, {"worldSize", s.world_size}, {"firstLayer", s.first_layer},
            {"lastLayer", s.last_layer}, {"backend", s.backend}};
}
json instance_json(const state::Instance &i) {
    json shards = json::array();
    for (const auto &s : i.shards) shards.push_back(shard_json(s));
    json j = {{"modelId", i.model_id}, {"sharding", i.sharding}, {"shards", std::move(shards)}, {"contextTokenLimit", i.context_token_limit}};
    if (!i.id.empty()) j["instanceId"] = i.id;
    return j;
}

// One table from a placement's failure kind to the HTTP answer (a command
// the master refused: command_answer's table).
CommandAnswer answer_for(const placing::Placed &p) {
    using placing::Failure;
    switch (p.failure) {
    case Failure::no_card: return {404, "invalid_request_error"};
    case Failure::plan: return {400, "invalid_request_error"};
    case Failure::info_pending: return {503, "service_unavailable"};
    case Failure::data_dir_full: return {507, "insufficient_storage"};
    case Failure::model_file: return {422, "invalid_request_error"};
    case Failure::unavailable:
    case Failure::refused: return api::answer_for(p.refusal);
    case Failure::none: break;
    }
    return {500, "server_error"};
}
// The envelope's code: the planner's kind where it decided, else the failure's.
std::string code_for(const placing::Placed &p) {
    using placing::Failure;
    switch (p.failure) {
    case Failure::no_card: return "model_not_found";
    case Failure::plan:
    case Failure::info_pending: return placement::to_string(p.plan_kind);
    case Failure::model_file: return "model_file_invalid";
    case Failure::refused: return state::to_string(p.refusal);
    default: return placing::to_string(p.failure);
    }
}
void send_place_failure(HttpResponse &res, const placing::Placed &p, std::string_view param = {}) {
    const CommandAnswer a = answer_for(p);
    if (a.status == 503) res.add_header("Retry-After", "2");
    res.send_error(a.status, p.message, a.type, code_for(p), param);
}

bool parse_body(const HttpRequest &req, HttpResponse &res, json &body) {
    try {
        body = json::parse(req.body);
    } catch (const json::exception &e) { // parse_error, or out_of_range for 1e400
        res.send_error(400, std::string("request body is not valid JSON: ") + e.what(), "invalid_request_error");
        return false;
    }
    if (!body.is_object()) {
        res.send_error(400, "request body must be a JSON object", "invalid_request_error");
        return false;
    }
    return true;
}

// An optional array of strings; false (400 sent) when it is something else.
bool string_list(const json &body, const char *field, std::vector<std::string> &out, HttpResponse &res) {
    if (!body.contains(field) || body[field].is_null()) return true;
    const auto &v = body[field];
    if (!v.is_array()) return res.send_error(400, std::string(field) + " must be an array of node ids", "invalid_request_error", "invalid_value", field), false;
    for (const auto &x : v) {
        if (!x.is_string()) return res.send_error(400, std::string(field) + " must be an array of node ids", "invalid_request_error", "invalid_value", field), false;
        out.push_back(x.get<std::string>());
    }
    return true;
}

// Placeholder models (no card) are placed without planning only for the
// cluster-core tests, which run with the worker muted.
bool uncarded_allowed() {
    const char *v = std::getenv("SKULK_TEST_NO_STATE_LISTENERS");
    return v && std::string(v) == "1";
}

void place_uncarded(cluster::Node &node, HttpResponse &res, const std::string &model_id, const std::string &sharding,
                    const std::vector<std::string> &node_ids) {
    state::PlaceInstance cmd;
    cmd.model_id = model_id;
    cmd.sharding = sharding;
    cmd.node_ids = node_ids;
    const auto r = node.submit(cmd, 15s);
    if (!r.ok) return send_command_failure(res, r);
    res.send_json(200, json{{"message", "Command received."},
                            {"command_id", r.command_id},
                            {"instance_id", r.created_ids.empty() ? json(nullptr) : json(r.created_ids.front())},
                            {"model_card", {{"model_id", model_id}}}}
                           .dump());
}

void place_instance(cluster::Node &node, cards::CardStore &cards, const HttpRequest &req, HttpResponse &res) {
    json body;
    if (!parse_body(req, res, body)) return;
    if (!body.contains("model_id") || !body["model_id"].is_string() || body["model_id"].get<std::string>().empty())
        return res.send_error(400, "model_id is required and must be a non-empty string", "invalid_request_error", "invalid_value", "model_id");
    const std::string model_id = body["model_id"];
    placement::Request preq;
    if (body.contains("sharding")) {
        if (!body["sharding"].is_string()) return res.send_error(400, "sharding must be \"Pipeline\" or \"Tensor\"", "invalid_request_error", "invalid_value", "sharding");
        preq.sharding = body["sharding"];
    }
    if (body.contains("min_nodes")) {
        if (!body["min_nodes"].is_number_integer() || body["min_nodes"].get<int64_t>() < 1 || body["min_nodes"].get<int64_t>() > 1024)
            return res.send_error(400, "min_nodes must be an integer from 1 to 1024", "invalid_request_error", "invalid_value", "min_nodes");
        preq.min_nodes = int(body["min_nodes"].get<int64_t>());
    }
    std::vector<std::string> excluded, node_ids;
    if (!string_list(body, "excluded_nodes", excluded, res) || !string_list(body, "node_ids", node_ids, res)) return;
    bool self_heal = true; // re-place the instance on the survivors when one of its nodes dies
    if (body.contains("self_heal")) {
        if (!body["self_heal"].is_boolean())
            return res.send_error(400, "self_heal must be true or false", "invalid_request_error", "invalid_value", "self_heal");
        self_heal = body["self_heal"];
    }
    preq.excluded.insert(excluded.begin(), excluded.end());

    if (!cards.find(model_id) && uncarded_allowed()) return place_uncarded(node, res, model_id, preq.sharding, node_ids);
    placing::Request request;
    request.model_id = model_id;
    request.plan = preq;
    request.pinned = node_ids;
    request.self_heal = self_heal;
    request.info_wait = kInfoWait; // a dry run that waits (bounded) for missing telemetry
    request.submit_timeout = 15s;
    const placing::Placed placed = placing::place(node, cards, request);
    if (!placed.ok()) {
        if (placed.failure == placing::Failure::info_pending) {
            placing::Placed late = placed;
            late.message += " after waiting 15 s";
            return send_place_failure(res, late);
        }
        if (placed.failure == placing::Failure::no_card) {
            placing::Placed nc = placed;
            nc.message += " (GET /models lists the known models)";
            return send_place_failure(res, nc);
        }
        return send_place_failure(res, placed, placed.failure == placing::Failure::model_file ? "model_id" : "");
    }
    const auto card = cards.find(model_id);
    log::get("placement")->info("placed {} as {} over {} node(s)", model_id, placed.instance_id.empty() ? "?" : placed.instance_id,
                                placed.instance.shards.size());
    res.send_json(200, json{{"message", "Command received."},
                            {"command_id", placed.command_id},
                            {"instance_id", placed.instance_id.empty() ? json(nullptr) : json(placed.instance_id)},
                            {"model_card", card ? model_json(*card) : json(nullptr)}}
                           .dump());
}

void previews(cluster::Node &node, cards::CardStore &cards, const HttpRequest &req, HttpResponse &res) {
    auto mit = req.query.find("model_id");
    if (mit == req.query.end() || mit->second.empty())
        return res.send_error(400, "query parameter model_id is required", "invalid_request_error", "invalid_value", "model_id");
    const auto card = cards.find(mit->second);
    if (!card) return res.send_error(404, "no model card for " + mit->second, "invalid_request_error", "model_not_found");
    placement::Request base;
    if (auto it = req.query.find("excluded_node_ids"); it != req.query.end()) {
        std::istringstream in(it->second);
        for (std::string id; std::getline(in, id, ',');)
            if (!id.empty()) base.excluded.insert(id);
    }
    const auto facts = placement::model_facts(*card);
    const auto nodes = placing::node_facts(node.view(), cards);
    json list = json::array();
    for (const char *sharding : {"Pipeline", "Tensor"}) {
        placement::Request r = base;
        r.sharding = sharding;
        for (int n = 1; n <= int(std::max<size_t>(nodes.size(), 1)); ++n) {
            const auto o = placement::plan_exact(facts, nodes, r, n);
            json p = {{"sharding", sharding}, {"node_count", n}};
            if (o.ok()) {
                json delta = json::object();
                for (const auto &[id, bytes] : o.plan->memory_delta_by_node) delta[id] = bytes;
                p["instance"] = instance_json(o.plan->instance);
                p["memory_delta_by_node"] = std::move(delta);
                p["error"] = nullptr;
            } else {
                p["instance"] = nullptr;
                p["memory_delta_by_node"] = nullptr;
                p["error"] = o.message;
                p["error_kind"] = placement::to_string(o.kind);
            }
            list.push_back(std::move(p));
        }
    }
    res.send_json(200, json{{"model_id", card->model_id}, {"previews", std::move(list)}}.dump());
}

// {"instance": {modelId, sharding?, shards: [...], contextTokenLimit?}} (or the instance object itself).
void create_instance(cluster::Node &node, cards::CardStore &cards, const HttpRequest &req, HttpResponse &res) {
    json body;
    if (!parse_body(req, res, body)) return;
    const json &j = body.contains("instance") ? body["instance"] : body;
    if (!j.is_object()) return res.send_error(400, "instance must be an object", "invalid_request_error", "invalid_value", "instance");
    auto str = [&](const json &o, const char *k, std::string &out) {
        if (!o.contains(k) || !o[k].is_string()) return false;
        out = o[k].get<std::string>();
        return true;
    };
    auto integer = [&](const json &o, const char *k, int &out) {
        if (!o.contains(k) || !o[k].is_number_integer()) return false;
        const auto v = o[k].get<int64_t>();
        if (v < -1 || v > 1000000) return false;
        out = int(v);
        return true;
    };
    state::Instance inst;
    if (!str(j, "modelId", inst.model_id) || inst.model_id.empty())
        return res.send_error(400, "instance.modelId is required and must be a non-empty string", "invalid_request_error", "invalid_value", "modelId");
    if (j.contains("sharding") && !str(j, "sharding", inst.sharding))
        return res.send_error(400, "instance.sharding must be a string", "invalid_request_error", "invalid_value", "sharding");
    if (!j.contains("shards") || !j["shards"].is_array() || j["shards"].empty())
        return res.send_error(400, "instance.shards must be a non-empty array", "invalid_request_error", "invalid_value", "shards");
    for (size_t i = 0; i < j["shards"].size(); ++i) {
        const auto &s = j["shards"][i];
        state::ShardAssignment sh;
        const std::string where = "instance.shards[" + std::to_string(i) + "]";
        if (!s.is_object() || !str(s, "nodeId", sh.node_id) || !integer(s, "rank", sh.rank) || !integer(s, "worldSize", sh.world_size) ||
            !integer(s, "firstLayer", sh.first_layer) || !integer(s, "lastLayer", sh.last_layer) || !str(s, "backend", sh.backend))
            return res.send_error(400, where + " needs nodeId (string), rank, worldSize, firstLayer, lastLayer (integers) and backend (string)",
                                  "invalid_request_error", "invalid_value", "shards");
        inst.shards.push_back(std::move(sh));
    }
    const auto card = cards.find(inst.model_id);
    if (!card) return res.send_error(404, "no model card for " + inst.model_id, "invalid_request_error", "model_not_found");
    const auto facts = placement::model_facts(*card);
    inst.context_token_limit = facts.context_tokens;
    if (j.contains("contextTokenLimit")) {
        if (!j["contextTokenLimit"].is_number_integer())
            return res.send_error(400, "instance.contextTokenLimit must be an integer", "invalid_request_error", "invalid_value", "contextTokenLimit");
        inst.context_token_limit = j["contextTokenLimit"].get<int64_t>();
    }
    const auto view = node.view();
    if (auto e = placement::check_instance(facts, placing::node_facts(view, cards), inst); !e.empty())
        return res.send_error(400, e, "invalid_request_error", "invalid_placement");
    if (std::string why; !placing::short_of_disk(inst.shards, view, why).empty())
        return res.send_error(507, why, "insufficient_storage", "data_dir_full");
    state::PlaceInstance cmd;
    cmd.model_id = inst.model_id;
    cmd.sharding = inst.sharding;
    cmd.shards = inst.shards;
    cmd.context_token_limit = inst.context_token_limit;
    const auto r = node.submit(cmd, 15s);
    if (!r.ok) return send_command_failure(res, r);
    res.send_json(200, json{{"message", "Command received."},
                            {"command_id", r.command_id},
                            {"instance_id", r.created_ids.empty() ? json(nullptr) : json(r.created_ids.front())}}
                           .dump());
}

} // namespace

void add_telemetry_to_state(const cluster::View &v, json &state) {
    json memory = json::object(), system = json::object(), disk = json::object(), resources = json::object();
    for (const auto &[id, seen] : v.telemetry) {
        if (!v.state.nodes.count(id) && id != v.self_id) continue;
        const auto &r = seen.reading;
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(seen.received.time_since_epoch()).count();
        json mem = {{"ramTotal", r.ram_total}, {"ramAvailable", r.ram_available}, {"receivedAtMs", ms}};
        if (r.gpu_memory_total) mem["gpuMemoryTotal"] = *r.gpu_memory_total;
        if (r.gpu_memory_available) mem["gpuMemoryAvailable"] = *r.gpu_memory_available;
        memory[id] = std::move(mem);
        system[id] = {{"cpuCores", r.cpu_cores}, {"cpuModel", r.cpu_model}};
        disk[id] = {{"total", r.disk_total}, {"available", r.disk_available}};
        json backends = json::array();
        for (const auto &b : r.backends) backends.push_back({{"tag", b.tag}, {"score", b.score}});
        resources[id] = {{"backends", std::move(backends)}};
    }
    state["nodeMemory"] = std::move(memory);
    state["nodeSystem"] = std::move(system);
    state["nodeDisk"] = std::move(disk);
    state["nodeResources"] = std::move(resources);
}

void register_placement_routes(HttpServer &server, cluster::Node &node, cards::CardStore &cards) {
    server.route("POST", "/place_instance", [&node, &cards](const HttpRequest &req, HttpResponse &res) { place_instance(node, cards, req, res); });
    server.route("GET", "/instance/previews", [&node, &cards](const HttpRequest &req, HttpResponse &res) { previews(node, cards, req, res); });
    server.route("POST", "/instance", [&node, &cards](const HttpRequest &req, HttpResponse &res) { create_instance(node, cards, req, res); });
}

} // namespace skulk::api
