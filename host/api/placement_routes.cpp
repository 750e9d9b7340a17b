#include "api/placement_routes.hpp"

#include "api/model_routes.hpp"
#include "cards/model_files.hpp"
#include "log/logging.hpp"
#include "placement/cluster_facts.hpp"
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
constexpr auto kInfoPoll = 200ms;

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

// A shard planned on this node will open the card's model file here: a file
// that is missing or not a GGUF is refused now, in the answer, rather than
// found by a runner that then fails to load (and only the log says why).
// Files on other nodes are theirs to check.
std::string local_model_file_problem(const cards::ModelCard &card, const std::vector<state::ShardAssignment> &shards,
                                     const std::string &self_id) {
    if (!card.source.is_local()) return "";
    for (const auto &s : shards)
        if (s.node_id == self_id) return cards::check_model_file(card.source.path);
    return "";
}

int status_of(placement::FailureKind k) { return k == placement::FailureKind::InfoPending ? 503 : 400; }

// A runner writes files in its node's data dir after the placement is
// answered (its socket, the chat template). A node whose data dir is full
// would accept the placement and then fail it: leave such nodes out.
constexpr uint64_t kRunnerFilesFloor = 1 << 20;

// The shard nodes whose latest telemetry shows less room than a runner
// needs; `why` gets one clause per node.
std::vector<std::string> short_of_disk(const std::vector<state::ShardAssignment> &shards, const cluster::View &view,
                                       std::string &why) {
    std::vector<std::string> out;
    for (const auto &s : shards) {
        auto t = view.telemetry.find(s.node_id);
        if (t == view.telemetry.end() || t->second.reading.disk_total == 0) continue; // unknown: the planner waits for it
        const uint64_t free_bytes = t->second.reading.disk_available;
        if (free_bytes >= kRunnerFilesFloor || std::find(out.begin(), out.end(), s.node_id) != out.end()) continue;
        out.push_back(s.node_id);
        why += (why.empty() ? "" : "; ") + std::string("node ") + s.node_id + "'s data dir has " + std::to_string(free_bytes) +
               " bytes free, below the " + std::to_string(kRunnerFilesFloor) + " a runner needs for its files";
    }
    return out;
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

void send_submit_failure(HttpResponse &res, const cluster::CommandReply &r) {
    const bool unavailable = r.error.find("master") != std::string::npos || r.error.find("in time") != std::string::npos ||
                             r.error.find("not running") != std::string::npos;
    res.send_error(unavailable ? 503 : 400, r.error, unavailable ? "service_unavailable" : "invalid_request_error");
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
    if (!r.ok) return send_submit_failure(res, r);
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
            return res.send_error(400, "self_heal must be true or false", "invalid_request_error", "self_heal");
        self_heal = body["self_heal"];
    }
    preq.excluded.insert(excluded.begin(), excluded.end());

    const auto card = cards.find(model_id);
    if (!card) {
        if (uncarded_allowed()) return place_uncarded(node, res, model_id, preq.sharding, node_ids);
        return res.send_error(404, "no model card for " + model_id + " (GET /models lists the known models)", "invalid_request_error", "model_not_found");
    }
    const placement::ModelFacts facts = placement::model_facts(*card);

    // Dry run; while some node's telemetry has not arrived, wait (bounded).
    const auto deadline = std::chrono::steady_clock::now() + kInfoWait;
    placement::Outcome o;
    std::string disk_why; // nodes left out for a full data dir
    for (;;) {
        const auto view = node.view();
        auto nodes = placement::node_facts(view, cards);
        placement::Request r = preq;
        if (!node_ids.empty()) // pinned: every other member is out
            for (const auto &n : nodes)
                if (std::find(node_ids.begin(), node_ids.end(), n.node_id) == node_ids.end()) r.excluded.insert(n.node_id);
        o = placement::plan(facts, nodes, r);
        if (o.ok()) {
            const auto full = short_of_disk(o.plan->instance.shards, view, disk_why);
            if (!full.empty()) { // plan again without them (each round leaves out at least one more node)
                preq.excluded.insert(full.begin(), full.end());
                continue;
            }
        }
        if (o.ok() || o.kind != placement::FailureKind::InfoPending || std::chrono::steady_clock::now() >= deadline) break;
        std::this_thread::sleep_for(kInfoPoll);
    }
    if (!o.ok() && !disk_why.empty())
        return res.send_error(507, disk_why + "; leaving them out: " + o.message, "insufficient_storage", "data_dir_full");
    if (!o.ok()) {
        const bool pending = o.kind == placement::FailureKind::InfoPending;
        return res.send_error(status_of(o.kind), pending ? o.message + " after waiting 15 s" : o.message,
                              pending ? "service_unavailable" : "invalid_request_error", placement::to_string(o.kind));
    }
    if (auto why = local_model_file_problem(*card, o.plan->instance.shards, node.view().self_id); !why.empty())
        return res.send_error(422, "cannot place " + model_id + ": " + why, "invalid_request_error", "model_file_invalid",
                              "model_id");
    state::PlaceInstance cmd;
    cmd.model_id = model_id;
    cmd.sharding = o.plan->instance.sharding;
    cmd.shards = o.plan->instance.shards;
    cmd.context_token_limit = o.plan->instance.context_token_limit;
    cmd.self_heal = self_heal;
    const auto r = node.submit(cmd, 15s);
    if (!r.ok) return send_submit_failure(res, r);
    log::get("placement")->info("placed {} as {} over {} node(s)", model_id, r.created_ids.empty() ? "?" : r.created_ids.front(),
                                cmd.shards.size());
    res.send_json(200, json{{"message", "Command received."},
                            {"command_id", r.command_id},
                            {"instance_id", r.created_ids.empty() ? json(nullptr) : json(r.created_ids.front())},
                            {"model_card", model_json(*card)}}
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
    const auto nodes = placement::node_facts(node.view(), cards);
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
    if (auto e = placement::check_instance(facts, placement::node_facts(view, cards), inst); !e.empty())
        return res.send_error(400, e, "invalid_request_error", "invalid_placement");
    if (std::string why; !short_of_disk(inst.shards, view, why).empty())
        return res.send_error(507, why, "insufficient_storage", "data_dir_full");
    state::PlaceInstance cmd;
    cmd.model_id = inst.model_id;
    cmd.sharding = inst.sharding;
    cmd.shards = inst.shards;
    cmd.context_token_limit = inst.context_token_limit;
    const auto r = node.submit(cmd, 15s);
    if (!r.ok) return send_submit_failure(res, r);
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
