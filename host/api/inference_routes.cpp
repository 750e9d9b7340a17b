#include "api/inference_routes.hpp"

#include "api/runner_client.hpp"
#include "log/logging.hpp"
#include "skulk/plugin.hpp"

#include <nlohmann/json.hpp>

#include <ctime>
#include <set>
#include <thread>

namespace skulk::api {

using nlohmann::json;
using clock_type = std::chrono::steady_clock;

class InferenceRoutes {
public:
    InferenceRoutes(const plugin::Registry &plugins, cluster::Node &node, worker::Worker &worker, InferenceOptions o)
        : plugins_(plugins), node_(node), worker_(worker), options_(o), keys_(cluster::curve_keys_for(o.cluster_secret)) {}

    void register_all(HttpServer &server);

private:
    struct Target {
        int status = 0;          // != 0: no runner; answer this
        std::string message, code;
        int retry_after = 0;     // > 0: a Retry-After header (seconds) with the error
        worker::LocalRunner runner;
        std::string remote_node; // rank 0 runs on this other node ("" : here)
    };
    // Why the runner of `t` can no longer answer ("" : it can).
    std::string runner_gone(const Target &t);

    int serve(const plugin::LoadedPlugin &adapter, const HttpRequest &req, HttpResponse &res);
    Target find_runner(const std::string &model);
    void cancel_route(const HttpRequest &req, HttpResponse &res);
    void metrics_route(HttpResponse &res);

    const plugin::Registry &plugins_;
    cluster::Node &node_;
    worker::Worker &worker_;
    InferenceOptions options_;
    std::optional<cluster::CurveKeys> keys_;
    zmq::context_t zmq_{1};
    RequestTable requests_;
    Metrics metrics_;
    std::shared_ptr<spdlog::logger> log_ = log::get("api");
};

namespace {

// What a 503 for a model that is coming back (being re-placed, or its runner
// not Ready yet) tells the client to wait before trying again.
constexpr int kRetryAfterSeconds = 3;

// The instance of `model` lost to a failure and being placed again, if any.
const state::Instance *being_replaced(const state::State &s, const std::string &model) {
    for (const auto &[id, inst] : s.replacing)
        if (inst.model_id == model) return &inst;
    return nullptr;
}

// The adapter's wire for streams: SSE for OpenAI/Anthropic, NDJSON for Ollama.
std::string stream_content_type(const std::string &adapter_name) {
    return adapter_name == "ollama" ? "application/x-ndjson" : "text/event-stream";
}

std::string error_event(std::string_view message, int status, bool retryable, std::string_view code = {}) {
    json e = {{"type", "error"}, {"message", message}, {"status", status}, {"retryable", retryable}};
    if (!code.empty()) e["code"] = code;
    return e.dump();
}

// Frees the adapter's per-response state however the request ends.
struct EncodeSession {
    explicit EncodeSession(const skulk_adapter_v1 *v) : vt(v) {}
    const skulk_adapter_v1 *vt;
    skulk_adapter_state *state = nullptr;
    skulk::string_sink wire;
    ~EncodeSession() {
        if (state) vt->free_state(state);
    }
    // Encodes one event into wire.text (cleared first). false: the adapter refused it.
    bool encode(std::string_view event) {
        wire.text.clear();
        return vt->encode(&state, skulk::to_str(event), wire.get()) == SKULK_OK;
    }
};

} // namespace

InferenceRoutes::Target InferenceRoutes::find_runner(const std::string &model) {
    const auto deadline = clock_type::now() + options_.ready_wait;
    for (;;) {
        const auto view = node_.view();
        Target t;
        bool placed = false, remote = false;
        std::string not_ready;
        Target remote_target;
        for (const auto &[id, inst] : view.state.instances) {
            if (inst.model_id != model) continue;
            placed = true;
            auto r = worker_.rank0_runner(id);
            if (!r) {
                // Rank 0 is on another node: talk to its runner over TCP (a
                // local rank 0 is preferred: one hop less).
                remote = true;
                auto rs = view.state.runners.find(worker::Worker::runner_id(id, 0));
                if (remote_target.remote_node.empty() && rs != view.state.runners.end() &&
                    rs->second.phase == state::RunnerPhase::Ready && !rs->second.request_endpoint.empty()) {
                    remote_target.runner.instance_id = id;
                    remote_target.runner.model_id = model;
                    remote_target.runner.endpoint =
                        worker::Worker::reachable(view, rs->second.node_id, rs->second.request_endpoint);
                    remote_target.runner.phase = worker::RunnerPhase::ready;
                    remote_target.remote_node = rs->second.node_id;
                }
                continue;
            }
            if (r->phase == worker::RunnerPhase::ready) {
                t.runner = *r;
                return t;
            }
            not_ready = r->phase == worker::RunnerPhase::gave_up && !r->give_up_reason.empty()
                            ? "was given up: " + r->give_up_reason
                            : std::string("is ") + worker::to_string(r->phase);
        }
        if (!remote_target.remote_node.empty()) return remote_target;
        if (!placed) {
            if (const auto *lost = being_replaced(view.state, model)) {
                // Self-healing (worker.cpp heal_pending): not gone, coming back.
                t.status = 503;
                t.code = "model_being_replaced";
                t.retry_after = kRetryAfterSeconds;
                t.message = "Model " + model + " is being placed again after instance " + lost->id +
                            " was lost; retry in a few seconds";
                return t;
            }
            t.status = 404;
            t.message = "No instance found for model " + model;
            t.code = "model_not_found";
            return t;
        }
        if (clock_type::now() >= deadline) {
            t.status = 503;
            t.code = "model_not_ready";
            t.retry_after = kRetryAfterSeconds;
            t.message = not_ready.empty() && remote
                            ? "Model " + model + " is placed on another node whose runner is not Ready yet; retry in a few seconds"
                            : "Model " + model + " is placed but its runner " + not_ready + "; retry in a few seconds";
            return t;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50)); // polling the runner phase, bounded by ready_wait
    }
}

int InferenceRoutes::serve(const plugin::LoadedPlugin &adapter, const HttpRequest &req, HttpResponse &res) {
    const auto arrived = clock_type::now();
    const skulk_adapter_v1 *vt = adapter.adapter();

    skulk::string_sink canonical, decode_error;
    const skulk_status ds = vt->decode(skulk::to_str(req.method), skulk::to_str(req.path), skulk::to_str(req.body),
                                       canonical.get(), decode_error.get());
    if (ds != SKULK_OK) {
        const int status = ds == SKULK_E_INVALID ? 400 : ds == SKULK_E_UNSUPPORTED ? 404 : 500;
        const std::string why = decode_error.text.empty() ? "the request could not be decoded" : decode_error.text;
        res.send_error(status, why, status == 500 ? "server_error" : "invalid_request_error");
        return status;
    }
    std::string model, kind;
    bool stream = false, include_usage = false;
    try {
        const auto c = json::parse(canonical.text);
        model = c.at("model").get<std::string>();
        kind = c.value("kind", "chat");
        stream = c.value("stream", false);
        include_usage = c.value("stream_include_usage", false);
    } catch (const std::exception &e) {
        log_->error("adapter {} produced an unreadable canonical request: {}", adapter.record().name, e.what());
        res.send_error(500, "the adapter produced an invalid request", "server_error");
        return 500;
    }

    Target target = find_runner(model);
    if (target.status) {
        if (target.retry_after > 0) res.add_header("Retry-After", std::to_string(target.retry_after));
        res.send_error(target.status, target.message, target.status == 404 ? "invalid_request_error" : "server_error",
                       target.code);
        return target.status;
    }
    const auto &runner = target.runner;

    const std::string command_id = new_command_id();
    auto cancelled = requests_.add(command_id);
    metrics_.queued.fetch_add(1);
    bool counted_queued = true, counted_running = false;
    struct Cleanup {
        std::function<void()> f;
        ~Cleanup() { f(); }
    } cleanup{[&] {
        requests_.remove(command_id);
        if (counted_queued) metrics_.queued.fetch_sub(1);
        if (counted_running) metrics_.running.fetch_sub(1);
    }};

    EncodeSession enc(vt);
    const std::string content_type = stream_content_type(adapter.record().name);
    bool started = false;

    // Ends the request with a terminal error event (before or after start).
    auto finish_with_error = [&](const std::string &event, int status) -> int {
        if (!enc.encode(event)) {
            if (!started) res.send_error(status, "the request failed", "server_error");
            else res.end_stream();
            return status;
        }
        if (stream && started) {
            res.write(enc.wire.text);
            res.end_stream();
            return 200;
        }
        res.send(status, "application/json", enc.wire.text);
        return status;
    };

    RunnerConnection conn(zmq_, runner.endpoint, keys_);
    if (!conn.send(generate_message(command_id, canonical.text)))
        return finish_with_error(error_event("the runner of model " + model + " is not accepting requests; the request may be retried",
                                             503, true), 503);

    std::string frame;
    RunnerEventHead head;
    bool cancel_sent = false;
    auto last_message = clock_type::now(), last_write = last_message, last_delta = last_message;
    bool first_delta = true;
    auto next_peer_check = last_message + std::chrono::milliseconds(100);
    for (;;) {
        // A whole response writes nothing until the end, so a client that
        // went away is noticed here (every ~100 ms), not at the final write.
        if (!stream && !cancel_sent && clock_type::now() >= next_peer_check) {
            next_peer_check = clock_type::now() + std::chrono::milliseconds(100);
            if (res.peer_gone()) { // as a stream's failed write: cancel, nobody reads the answer
                conn.send(cancel_message(command_id));
                log_->info("request {}: client disconnected while waiting; cancelled", command_id);
                return 499;
            }
        }
        if (cancelled->load(std::memory_order_relaxed) && !cancel_sent) {
            conn.send(cancel_message(command_id));
            cancel_sent = true;
        }
        if (!conn.receive(frame, std::chrono::milliseconds(100))) {
            const auto now = clock_type::now();
            if (const std::string gone = conn.closed() ? "it closed the connection" : runner_gone(target); !gone.empty()) {
                log_->warn("request {}: the runner of instance {} went away ({})", command_id, runner.instance_id, gone);
                return finish_with_error(error_event("The model runner stopped while handling this request (instance " +
                                                         runner.instance_id + "); the request may be retried.",
                                                     500, true),
                                         500);
            }
            if (now - last_message > options_.runner_silence_limit)
                return finish_with_error(error_event("No answer from the model runner for " +
                                                         std::to_string(options_.runner_silence_limit.count() / 1000) +
                                                         " s; the request may be retried.",
                                                     500, true),
                                         500);
            if (stream && started && now - last_write >= options_.keepalive_interval && enc.encode(R"({"type":"keepalive"})")) {
                if (!res.write(enc.wire.text) && !cancel_sent) cancelled->store(true);
                last_write = now;
            }
            continue;
        }
        last_message = clock_type::now();
        if (!read_event_head(frame, head)) {
            log_->warn("request {}: unreadable runner message ignored: {}", command_id, frame.substr(0, 200));
            continue;
        }
        if (head.version != kRunnerProtocolVersion) {
            log_->error("runner of {} speaks protocol version {}, we speak {}", runner.instance_id, head.version,
                        kRunnerProtocolVersion);
            return finish_with_error(error_event("the model runner speaks another protocol version", 500, false), 500);
        }
        if (!head.command_id.empty() && head.command_id != command_id) continue; // not ours (a stale reply)
        const std::string &type = head.type;

        if (type == "delta") {
            if (!started) continue;
            const auto now = clock_type::now();
            if (first_delta) metrics_.observe_ttft(std::chrono::duration<double>(now - arrived).count());
            else metrics_.observe_inter_token(std::chrono::duration<double>(now - last_delta).count());
            first_delta = false;
            last_delta = now;
            if (!enc.encode(frame)) {
                log_->warn("request {}: adapter refused a delta", command_id);
                continue;
            }
            if (stream && !enc.wire.text.empty()) {
                if (!res.write(enc.wire.text)) {
                    // The client went away: stop the generation, nobody reads it.
                    if (!cancel_sent) conn.send(cancel_message(command_id));
                    log_->info("request {}: client disconnected; cancelled", command_id);
                    return 499;
                }
                last_write = now;
            }
        } else if (type == "start") {
            if (started) continue;
            started = true;
            counted_queued = false;
            metrics_.queued.fetch_sub(1);
            counted_running = true;
            metrics_.running.fetch_add(1);
            const std::string prefix = kind == "completion" ? "cmpl-" : "chatcmpl-";
            const json start = {{"type", "start"}, {"id", prefix + command_id.substr(4)}, {"model", model},
                                {"created", int64_t(std::time(nullptr))}, {"kind", kind}, {"stream", stream},
                                {"stream_include_usage", include_usage}};
            std::string head_bytes;
            if (enc.encode(start.dump())) head_bytes += enc.wire.text;
            if (enc.encode(json{{"type", "command_id"}, {"id", command_id}}.dump())) head_bytes += enc.wire.text;
            if (stream) {
                res.start_stream(200, content_type);
                if (!res.write(head_bytes)) {
                    conn.send(cancel_message(command_id));
                    return 499;
                }
                last_write = clock_type::now();
            }
        } else if (type == "keepalive") {
            if (stream && started && enc.encode(R"({"type":"keepalive"})")) {
                if (!res.write(enc.wire.text) && !cancel_sent) cancelled->store(true);
                last_write = clock_type::now();
            }
        } else if (type == "done") {
            json done;
            try {
                done = json::parse(frame);
            } catch (const std::exception &) {
                return finish_with_error(error_event("the model runner sent an unreadable final event", 500, true), 500);
            }
            // The wire protocols know no "cancelled": a cancelled request stopped.
            if (done.value("finish_reason", "") == "cancelled") done["finish_reason"] = "stop";
            if (done.contains("usage") && done["usage"].is_object())
                metrics_.add_tokens(done["usage"].value("prompt_tokens", 0), done["usage"].value("completion_tokens", 0));
            if (!started) return finish_with_error(error_event("the model runner ended a request it never started", 500, true), 500);
            if (!enc.encode(done.dump()))
                return finish_with_error(error_event("the final event could not be encoded", 500, false), 500);
            if (stream) {
                res.write(enc.wire.text);
                res.end_stream();
            } else {
                res.send(200, "application/json", enc.wire.text);
            }
            return 200;
        } else if (type == "error") {
            int status = 500;
            try {
                status = json::parse(frame).value("status", 500);
            } catch (const std::exception &) {
            }
            if (status < 400 || status > 599) status = 500;
            return finish_with_error(frame, status);
        }
        // pong and unknown types: ignored.
    }
}

std::string InferenceRoutes::runner_gone(const Target &t) {
    if (t.remote_node.empty()) {
        const auto r = worker_.rank0_runner(t.runner.instance_id);
        if (!r) return "instance deleted";
        if (r->spawn_count != t.runner.spawn_count || r->phase != worker::RunnerPhase::ready) return worker::to_string(r->phase);
        return "";
    }
    // A remote rank 0: its node must still be heard (the election's 2 s
    // liveness, much sooner than the cluster's membership timeout) and its
    // runner still Ready in the replicated state.
    const auto view = node_.view();
    for (const auto &p : view.peers)
        if (p.node_id == t.remote_node && !p.alive) return "node " + t.remote_node + " is not heard any more";
    if (!view.state.instances.count(t.runner.instance_id)) return "instance deleted";
    // No status at all while the instance stands: a new master's session,
    // whose runners are being reported again; the runner itself is fine
    // (tokens never pass through the master).
    auto rs = view.state.runners.find(worker::Worker::runner_id(t.runner.instance_id, 0));
    if (rs != view.state.runners.end() && rs->second.phase != state::RunnerPhase::Ready) return "runner not Ready";
    return "";
}

void InferenceRoutes::cancel_route(const HttpRequest &req, HttpResponse &res) {
    const std::string &id = req.params.at(0);
    if (!requests_.cancel(id))
        return res.send_error(404, "No request in flight with command_id " + id, "invalid_request_error", "command_not_found");
    res.send_json(200, json{{"message", "Command cancelled."}, {"command_id", id}}.dump());
}

void InferenceRoutes::metrics_route(HttpResponse &res) {
    const auto view = node_.view();
    MetricsSnapshot snap;
    for (const auto &[id, r] : view.state.runners) ++snap.runners_by_phase[state::to_string(r.phase)];
    snap.eventlog_counting_only = view.eventlog_counting_only;
    snap.eventlog_appended = view.eventlog_appended;
    res.send(200, "text/plain; version=0.0.4; charset=utf-8", metrics_.render(snap));
}

void InferenceRoutes::register_all(HttpServer &server) {
    std::set<std::pair<std::string, std::string>> taken;
    for (const auto &adapter : plugins_.all(SKULK_KIND_ADAPTER)) {
        const auto *vt = adapter->adapter();
        if (!vt) continue;
        json routes;
        try {
            routes = json::parse(skulk::view(vt->routes_json));
        } catch (const std::exception &e) {
            log_->error("adapter {}: routes_json is not JSON ({}); its routes are not served", adapter->record().name, e.what());
            continue;
        }
        for (const auto &r : routes) {
            const std::string method = r.value("method", ""), path = r.value("path", "");
            if (method.empty() || path.empty()) continue;
            if (!taken.insert({method, path}).second) {
                log_->warn("adapter {}: {} {} is already served by another adapter", adapter->record().name, method, path);
                continue;
            }
            log_->info("adapter {} serves {} {}", adapter->record().name, method, path);
            server.route(method, path, [this, adapter](const HttpRequest &req, HttpResponse &res) {
                int status = 500;
                try {
                    status = serve(*adapter, req, res);
                } catch (const std::exception &e) {
                    log_->error("{} {}: {}", req.method, req.path, e.what());
                    if (!res.started()) res.send_error(500, std::string("internal error: ") + e.what(), "server_error");
                }
                res.note_outcome(status); // counted by the server's observer (499: the client left)
            });
        }
    }
    server.route("POST", "/v1/cancel/{command_id}", [this](const HttpRequest &req, HttpResponse &res) { cancel_route(req, res); });
    server.route("GET", "/metrics", [this](const HttpRequest &, HttpResponse &res) { metrics_route(res); });
    // Every route of this server is counted, not only the inference ones.
    server.on_response([this](std::string_view route, int status) { metrics_.count_request(route, status); });
}

std::shared_ptr<InferenceRoutes> register_inference_routes(HttpServer &server, const plugin::Registry &plugins,
                                                           cluster::Node &node, worker::Worker &worker,
                                                           InferenceOptions options) {
    auto routes = std::make_shared<InferenceRoutes>(plugins, node, worker, options);
    routes->register_all(server);
    return routes;
}

} // namespace skulk::api
