// JSON encoding of the wire types. Field names are part of the protocol:
// change them only together with kWireVersion.
#include "cluster/wire.hpp"

#include <nlohmann/json.hpp>

#include <stdexcept>

namespace skulk::state {
using nlohmann::json;

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(NodeInfo, id, endpoint)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ShardAssignment, node_id, rank, world_size, first_layer, last_layer, backend)
// self_heal was appended: absent in older records, it defaults to true.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Instance, id, model_id, sharding, shards, context_token_limit, self_heal)

void to_json(json &j, const RunnerStatus &r) {
    j = {{"runner_id", r.runner_id}, {"instance_id", r.instance_id}, {"node_id", r.node_id},
         {"phase", to_string(r.phase)}, {"layers_loaded", r.layers_loaded}, {"total_layers", r.total_layers},
         {"error_message", r.error_message}, {"request_endpoint", r.request_endpoint},
         {"pipeline_endpoint", r.pipeline_endpoint}};
}
void from_json(const json &j, RunnerStatus &r) {
    j.at("runner_id").get_to(r.runner_id);
    j.at("instance_id").get_to(r.instance_id);
    j.at("node_id").get_to(r.node_id);
    if (!parse_runner_phase(j.at("phase").get<std::string>(), r.phase)) throw std::runtime_error("unknown runner phase");
    j.at("layers_loaded").get_to(r.layers_loaded);
    j.at("total_layers").get_to(r.total_layers);
    j.at("error_message").get_to(r.error_message);
    // Appended fields: absent in messages of older nodes.
    r.request_endpoint = j.value("request_endpoint", "");
    r.pipeline_endpoint = j.value("pipeline_endpoint", "");
}
void to_json(json &j, const Task &t) {
    j = {{"id", t.id}, {"instance_id", t.instance_id}, {"command_id", t.command_id},
         {"status", to_string(t.status)}, {"error_message", t.error_message}};
}
void from_json(const json &j, Task &t) {
    j.at("id").get_to(t.id);
    j.at("instance_id").get_to(t.instance_id);
    j.at("command_id").get_to(t.command_id);
    if (!parse_task_status(j.at("status").get<std::string>(), t.status)) throw std::runtime_error("unknown task status");
    j.at("error_message").get_to(t.error_message);
}
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(CustomCard, model_id, toml)
// custom_cards and carried_custom_cards were appended: absent in messages
// and event-log records of older nodes.
void to_json(json &j, const State &s) {
    j = {{"term", s.term}, {"master_node_id", s.master_node_id}, {"last_event_applied_idx", s.last_event_applied_idx},
         {"nodes", s.nodes}, {"instances", s.instances}, {"runners", s.runners}, {"tasks", s.tasks},
         {"custom_cards", s.custom_cards}, {"replacing", s.replacing}};
}
void from_json(const json &j, State &s) {
    j.at("term").get_to(s.term);
    j.at("master_node_id").get_to(s.master_node_id);
    j.at("last_event_applied_idx").get_to(s.last_event_applied_idx);
    j.at("nodes").get_to(s.nodes);
    j.at("instances").get_to(s.instances);
    j.at("runners").get_to(s.runners);
    j.at("tasks").get_to(s.tasks);
    if (j.contains("custom_cards")) j.at("custom_cards").get_to(s.custom_cards);
    if (j.contains("replacing")) j.at("replacing").get_to(s.replacing);
}
void to_json(json &j, const SessionStarted &e) {
    j = {{"master_node_id", e.master_node_id}, {"carried_instances", e.carried_instances},
         {"carried_custom_cards", e.carried_custom_cards}, {"carried_replacing", e.carried_replacing}};
}
void from_json(const json &j, SessionStarted &e) {
    j.at("master_node_id").get_to(e.master_node_id);
    j.at("carried_instances").get_to(e.carried_instances);
    if (j.contains("carried_custom_cards")) j.at("carried_custom_cards").get_to(e.carried_custom_cards);
    if (j.contains("carried_replacing")) j.at("carried_replacing").get_to(e.carried_replacing);
}
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(CustomModelCardAdded, card)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(CustomModelCardDeleted, model_id)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(NodeJoined, node)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(NodeLeft, node_id)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(NodeTimedOut, node_id)
// replaces / replace were appended: absent in older records (defaults).
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(InstanceCreated, instance, replaces)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(InstanceDeleted, instance_id, reason, replace)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(RunnerStatusUpdated, status)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(TaskCreated, task)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(TaskFinished, task_id)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(TaskFailed, task_id, error_message)

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(PlaceInstance, model_id, node_ids, sharding, shards, context_token_limit,
                                                self_heal, replaces)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(DeleteInstance, instance_id, failed, reason)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(CreateTask, task_id, instance_id)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(FinishTask, task_id)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(FailTask, task_id, error_message)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ReportRunnerStatus, status)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(AddCustomModelCard, card)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(DeleteCustomModelCard, model_id)
} // namespace skulk::state

namespace skulk::cluster {
using nlohmann::json;

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ElectionKey, forced, clock, seniority, commands_seen, node_id)
// incarnation was appended: absent ("") in messages of older nodes.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Heartbeat, port, key, master_id, master_term, last_idx, peers, leaving,
                                                incarnation)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Hello, port, incarnation)
CommandReply unavailable_reply(const std::string &command_id, std::string why) {
    CommandReply r;
    r.command_id = command_id;
    r.error = std::move(why);
    r.refusal = state::Refusal::unavailable;
    return r;
}

void to_json(json &j, const CommandReply &r) {
    j = json{{"command_id", r.command_id}, {"ok", r.ok}, {"error", r.error}, {"created_ids", r.created_ids},
             {"refusal", state::to_string(r.refusal)}};
}
void from_json(const json &j, CommandReply &r) {
    j.at("command_id").get_to(r.command_id);
    j.at("ok").get_to(r.ok);
    j.at("error").get_to(r.error);
    j.at("created_ids").get_to(r.created_ids);
    r.refusal = !j.contains("refusal")    ? state::Refusal::none
                : !j["refusal"].is_string() ? state::Refusal::invalid
                                            : state::refusal_from_string(j["refusal"].get_ref<const std::string &>());
}
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(GapRequest, term, since)
} // namespace skulk::cluster

namespace skulk::telemetry {
using nlohmann::json;
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(BackendOffer, tag, score)
// The GPU fields are present only where an engine reported them.
void to_json(json &j, const Reading &r) {
    j = {{"ram_total", r.ram_total}, {"ram_available", r.ram_available}, {"disk_total", r.disk_total},
         {"disk_available", r.disk_available}, {"cpu_cores", r.cpu_cores}, {"cpu_model", r.cpu_model},
         {"backends", r.backends}};
    if (r.gpu_memory_total) j["gpu_memory_total"] = *r.gpu_memory_total;
    if (r.gpu_memory_available) j["gpu_memory_available"] = *r.gpu_memory_available;
}
void from_json(const json &j, Reading &r) {
    j.at("ram_total").get_to(r.ram_total);
    j.at("ram_available").get_to(r.ram_available);
    j.at("disk_total").get_to(r.disk_total);
    j.at("disk_available").get_to(r.disk_available);
    j.at("cpu_cores").get_to(r.cpu_cores);
    j.at("cpu_model").get_to(r.cpu_model);
    j.at("backends").get_to(r.backends);
    if (j.contains("gpu_memory_total")) r.gpu_memory_total = j["gpu_memory_total"].get<uint64_t>();
    if (j.contains("gpu_memory_available")) r.gpu_memory_available = j["gpu_memory_available"].get<uint64_t>();
}
} // namespace skulk::telemetry

namespace skulk::cluster {

namespace {

// A variant as {"type": <name>, "data": <value>}: names, never indices, so
// reordering alternatives cannot silently change the protocol.
template <class Variant, class NameFn>
json variant_to_json(const Variant &v, NameFn name) {
    json data;
    std::visit([&](const auto &x) { data = x; }, v);
    return json{{"type", name(v)}, {"data", std::move(data)}};
}
template <class Variant, size_t I = 0, class NameFn>
bool variant_from_json(const json &j, Variant &out, NameFn name) {
    if constexpr (I == std::variant_size_v<Variant>) {
        return false;
    } else {
        Variant probe{std::in_place_index<I>};
        if (j.at("type").get<std::string>() == name(probe)) {
            out.template emplace<I>(j.at("data").get<std::variant_alternative_t<I, Variant>>());
            return true;
        }
        return variant_from_json<Variant, I + 1>(j, out, name);
    }
}

json event_to_json(const state::Event &e) {
    return json{{"term", e.term}, {"idx", e.idx}, {"event", variant_to_json(e.body, state::event_name)}};
}
state::Event event_from_json(const json &j) {
    state::Event e;
    j.at("term").get_to(e.term);
    j.at("idx").get_to(e.idx);
    if (!variant_from_json(j.at("event"), e.body, state::event_name))
        throw std::runtime_error("unknown event type " + j.at("event").at("type").dump());
    return e;
}

const char *kind_name(ElectionKind k) {
    switch (k) {
    case ElectionKind::Campaign: return "campaign";
    case ElectionKind::Answer: return "answer";
    case ElectionKind::Coordinator: return "coordinator";
    }
    return "?";
}

json body_to_json(const Body &b, std::string &type) {
    return std::visit(
        [&](const auto &m) -> json {
            using T = std::decay_t<decltype(m)>;
            if constexpr (std::is_same_v<T, Heartbeat>) { type = "heartbeat"; return m; }
            else if constexpr (std::is_same_v<T, ElectionMsg>) {
                type = "election";
                return json{{"kind", kind_name(m.kind)}, {"key", m.key}, {"term", m.term}};
            } else if constexpr (std::is_same_v<T, state::Event>) { type = "event"; return event_to_json(m); }
            else if constexpr (std::is_same_v<T, Hello>) { type = "hello"; return m; }
            else if constexpr (std::is_same_v<T, CommandRequest>) {
                type = "command";
                return json{{"command_id", m.command.command_id}, {"origin", m.command.origin},
                            {"command", variant_to_json(m.command.body, state::command_name)}};
            } else if constexpr (std::is_same_v<T, CommandReply>) { type = "command_reply"; return m; }
            else if constexpr (std::is_same_v<T, SnapshotRequest>) { type = "snapshot_request"; return json::object(); }
            else if constexpr (std::is_same_v<T, SnapshotReply>) { type = "snapshot"; return json{{"state", m.state}}; }
            else if constexpr (std::is_same_v<T, GapRequest>) { type = "gap_request"; return m; }
            else if constexpr (std::is_same_v<T, GapReply>) {
                type = "gap_reply";
                json evs = json::array();
                for (const auto &e : m.events) evs.push_back(event_to_json(e));
                return json{{"term", m.term}, {"events", std::move(evs)}};
            } else if constexpr (std::is_same_v<T, TelemetryMsg>) { type = "telemetry"; return json{{"reading", m.reading}}; }
        },
        b);
}

Body body_from_json(const std::string &type, const json &j) {
    if (type == "heartbeat") return j.get<Heartbeat>();
    if (type == "election") {
        ElectionMsg m;
        const auto k = j.at("kind").get<std::string>();
        if (k == "campaign") m.kind = ElectionKind::Campaign;
        else if (k == "answer") m.kind = ElectionKind::Answer;
        else if (k == "coordinator") m.kind = ElectionKind::Coordinator;
        else throw std::runtime_error("unknown election kind " + k);
        j.at("key").get_to(m.key);
        j.at("term").get_to(m.term);
        return m;
    }
    if (type == "event") return event_from_json(j);
    if (type == "hello") return j.get<Hello>();
    if (type == "command") {
        CommandRequest r;
        j.at("command_id").get_to(r.command.command_id);
        j.at("origin").get_to(r.command.origin);
        if (!variant_from_json(j.at("command"), r.command.body, state::command_name))
            throw std::runtime_error("unknown command type " + j.at("command").at("type").dump());
        return r;
    }
    if (type == "command_reply") return j.get<CommandReply>();
    if (type == "snapshot_request") return SnapshotRequest{};
    if (type == "snapshot") return SnapshotReply{j.at("state").get<state::State>()};
    if (type == "gap_request") return j.get<GapRequest>();
    if (type == "gap_reply") {
        GapReply r;
        j.at("term").get_to(r.term);
        for (const auto &e : j.at("events")) r.events.push_back(event_from_json(e));
        return r;
    }
    if (type == "telemetry") return TelemetryMsg{j.at("reading").get<telemetry::Reading>()};
    throw std::runtime_error("unknown message type \"" + type + "\"");
}

} // namespace

std::string encode(const Envelope &env) {
    std::string type;
    json body = body_to_json(env.body, type);
    return json{{"v", env.version}, {"ns", env.ns}, {"from", env.from}, {"type", type}, {"body", std::move(body)}}.dump();
}

// The wire carries integers only. A floating-point number would reach an
// integer field, and nlohmann converts an out-of-range one with undefined
// behaviour (found by fuzz_wire_input): refuse the message while parsing.
static json parse_wire(std::string_view bytes) {
    return json::parse(bytes, [](int, json::parse_event_t event, json &value) {
        if (event == json::parse_event_t::value && value.is_number_float())
            throw std::runtime_error("a floating-point number in a wire message (integers only)");
        return true;
    });
}

Decoded decode(std::string_view bytes) {
    Decoded d;
    try {
        const json j = parse_wire(bytes);
        d.version = j.at("v").get<uint32_t>();
        if (d.version != kWireVersion) {
            d.version_mismatch = true;
            d.error = "wire version " + std::to_string(d.version) + ", this node speaks " + std::to_string(kWireVersion);
            return d;
        }
        d.env.version = d.version;
        j.at("ns").get_to(d.env.ns);
        j.at("from").get_to(d.env.from);
        d.env.body = body_from_json(j.at("type").get<std::string>(), j.at("body"));
        d.ok = true;
    } catch (const std::exception &e) {
        d.error = e.what();
    }
    return d;
}

std::string encode_event(const state::Event &e) { return event_to_json(e).dump(); }

bool decode_event(std::string_view bytes, state::Event &out, std::string &error) {
    try {
        out = event_from_json(parse_wire(bytes));
        return true;
    } catch (const std::exception &e) {
        error = e.what();
        return false;
    }
}

} // namespace skulk::cluster
