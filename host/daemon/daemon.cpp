#include "daemon/daemon.hpp"

#include "api/auth.hpp"
#include "api/cluster_routes.hpp"
#include "api/cors.hpp"
#include "api/http_server.hpp"
#include "api/inference_routes.hpp"
#include "api/model_routes.hpp"
#include "api/placement_routes.hpp"
#include "cards/card_store.hpp"
#include "worker/card_sync.hpp"
#include "cards/model_files.hpp"
#include "cluster/identity.hpp"
#include "cluster/node.hpp"
#include "common/data_dir_lock.hpp"
#include "common/stop_signals.hpp"
#include "common/version.hpp"
#include "log/log_control.hpp"
#include "log/logging.hpp"
#include "plugin/registry.hpp"
#include "telemetry/publisher.hpp"
#include "worker/worker.hpp"

#include <nlohmann/json.hpp>

#include <csignal>
#include <fstream>
#include <pthread.h>
#include <unistd.h>

namespace skulk::daemon {
namespace {

// <data-dir>/runtime.json tells scripts and tests which ports this process
// bound (port 0 picks free ones). Written to a temp file and renamed so a
// reader never sees half a file; removed again on a clean stop.
bool write_runtime_file(const std::filesystem::path &path, const nlohmann::json &info, std::string &error) {
    const auto tmp = path.string() + ".tmp." + std::to_string(::getpid());
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << info.dump() << '\n';
        if (!out.flush()) {
            error = "cannot write " + tmp;
            return false;
        }
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) error = "cannot rename " + tmp + " to " + path.string() + ": " + ec.message();
    return !ec;
}

// --place of a card whose model file is missing or not a GGUF: refused at
// startup with the reason (a runner would only fail to load it, and only the
// log would say why). A model without a card is left to the worker: custom
// cards may still arrive from the cluster.
std::string check_place_models(const std::vector<std::string> &models, const cards::CardStore &cards) {
    for (const auto &m : models) {
        const auto card = cards.find(m);
        if (!card || !card->source.is_local()) continue;
        if (auto why = cards::check_model_file(card->source.path); !why.empty()) return "--place " + m + ": " + why;
    }
    return "";
}

} // namespace

struct Daemon::Impl {
    config::Options options;
    cluster::NodeIdentity identity; // lasting: <data-dir>/identity/
    std::string node_id;            // identity.node_id, set before anything uses it
    std::shared_ptr<spdlog::logger> log = log::get("daemon");
    // First in, last out: held until every subsystem writing the data dir is gone.
    std::unique_ptr<DataDirLock> lock;
    // Declared before http: destroyed after it, so no handler outlives plugins.
    std::unique_ptr<plugin::Registry> plugins;
    std::unique_ptr<cluster::Node> cluster; // declared before http: outlives the handlers
    std::unique_ptr<cards::CardStore> cards; // before http too
    std::unique_ptr<telemetry::Publisher> telemetry; // feeds cluster->publish_telemetry
    std::unique_ptr<worker::Worker> worker;  // runners of the instances placed here; before http
    std::shared_ptr<api::InferenceRoutes> inference; // owns what the inference handlers use
    std::unique_ptr<api::HttpServer> http;

    void register_routes(api::HttpServer &server) {
        server.route("GET", "/healthz", [](const api::HttpRequest &, api::HttpResponse &res) {
            res.send_json(200, R"({"status":"ok"})");
        });
        server.route("GET", "/node_id", [this](const api::HttpRequest &, api::HttpResponse &res) {
            res.send_json(200, nlohmann::json(node_id).dump());
        });
        // Placement first: its /instance/previews must win over /instance/{id}.
        if (cluster && cards) api::register_placement_routes(server, *cluster, *cards);
        if (cluster) api::register_cluster_routes(server, *cluster);
        if (cards) api::register_model_routes(server, *cards, cluster.get());
        if (cluster && worker) {
            api::InferenceOptions io;
            io.cluster_secret = options.cluster_secret;
            inference = api::register_inference_routes(server, *plugins, *cluster, *worker, io);
        }
    }
};

Daemon::Daemon(config::Options options) : impl_(std::make_unique<Impl>()) { impl_->options = std::move(options); }

Daemon::~Daemon() = default;

int Daemon::run() {
    auto &d = *impl_;
    // Before any thread starts: every thread inherits the mask, this one waits.
    const sigset_t stop_signals = block_stop_signals();

    std::error_code ec;
    std::filesystem::create_directories(d.options.data_dir, ec);
    if (ec) {
        d.log->error("cannot create data dir {}: {}", d.options.data_dir.string(), ec.message());
        return 1;
    }
    // Before anything reads or writes the data dir (event log, runtime.json,
    // cards, runner sockets): a second daemon here would append to the same
    // event log and remove the first one's runtime.json when it stops.
    d.lock = std::make_unique<DataDirLock>(d.options.data_dir);
    if (!d.lock->held()) {
        d.log->error("{}", d.lock->error());
        return d.lock->in_use() ? 2 : 1;
    }
    if (!d.lock->error().empty()) d.log->warn("{}", d.lock->error());
    try {
        d.identity = cluster::load_or_create_identity(d.options.data_dir / "identity");
    } catch (const std::exception &e) {
        d.log->error("{}", e.what());
        return 1;
    }
    d.node_id = d.identity.node_id;
    log::set_node_id(d.node_id); // JSON log lines carry it from here on
    d.log->info("skulk-host {} starting, node id {} ({} identity), data dir {}", kVersion, d.node_id,
                d.identity.created ? "new" : "lasting", d.options.data_dir.string());
    // Before any thread starts: the registry forks a probe child per plugin.
    d.plugins = std::make_unique<plugin::Registry>(d.options.plugin_dirs);
    d.plugins->scan();
    // Model cards: built-in (cards/) and custom (<data-dir>/custom_cards); a broken file is logged and skipped.
    d.cards = std::make_unique<cards::CardStore>(cards::find_builtin_cards_dir(d.options.cards_dir), d.options.data_dir / "custom_cards");
    d.log->info("{} model cards from {} and {}", d.cards->reload(), d.cards->builtin_dir().string(), d.cards->custom_dir().string());
    for (const auto &e : d.cards->load_errors()) d.log->warn("model card skipped: {}", e);
    if (auto err = check_place_models(d.options.place_models, *d.cards); !err.empty()) {
        d.log->error("{}", err);
        return 1;
    }
    d.cards->set_model_dirs(d.options.model_dirs.empty() ? cards::default_model_dirs(d.options.data_dir, d.cards->builtin_dir())
                                                         : d.options.model_dirs);

    // The cluster (router, election, replicated state, event log): after the
    // plugin scan, which forks, because the node starts a thread.
    {
        cluster::NodeOptions co;
        co.node_id = d.node_id;
        co.identity = d.identity.keys;
        co.ns = d.options.cluster_namespace;
        co.secret = d.options.cluster_secret;
        co.port = d.options.cluster_port;
        co.bootstrap_peers = d.options.bootstrap_peers;
        co.force_master = d.options.force_master;
        co.bind_address = d.options.cluster_bind;
        co.data_dir = d.options.data_dir;
        if (auto err = cluster::apply_env_overrides(co); !err.empty()) {
            d.log->error("{}", err);
            return 1;
        }
        d.cluster = std::make_unique<cluster::Node>(co);
        telemetry::Overrides tov;
        if (auto err = telemetry::read_overrides(tov); !err.empty()) {
            d.log->error("{}", err);
            return 1;
        }
        d.telemetry = std::make_unique<telemetry::Publisher>(d.options.data_dir, telemetry::backend_offers(*d.plugins), tov,
                                                             [node = d.cluster.get()](const telemetry::Reading &r) { node->publish_telemetry(r); });
        worker::WorkerOptions wo;
        wo.node_id = d.node_id;
        wo.data_dir = d.options.data_dir;
        wo.plugin_dirs = d.plugins->dirs();
        wo.cluster_secret = d.options.cluster_secret;
        wo.listen_host = d.options.cluster_bind; // runner hub and request sockets: where peers reach this node
        d.worker = std::make_unique<worker::Worker>(wo, *d.cluster, *d.cards, *d.plugins);
        d.worker->attach(); // the listener goes in before the node starts
        worker::attach_card_sync(*d.cluster, *d.cards); // custom cards follow the replicated State
        try {
            d.cluster->start();
        } catch (const std::exception &e) {
            d.log->error("cluster: {}", e.what());
            return 1;
        }
        d.worker->start();
        d.telemetry->start(); // after the node: its readings go out on the node's thread
        if (!d.options.place_models.empty()) d.worker->place_at_startup(d.options.place_models);
    }

    if (!d.options.no_api) {
        api::HttpOptions http_options;
        http_options.bind_address = d.options.api_bind;
        http_options.port = d.options.api_port;
        // One civetweb thread per open connection (streams and idle ones
        // alike): see docs/operations.md "HTTP limits".
        http_options.threads = d.options.api_threads;
        http_options.head_timeout_ms = d.options.api_head_timeout_ms;
        if (auto err = api::configure_access(d.options.api_keys_file, d.options.cors_origins, http_options); !err.empty()) {
            d.log->error("{}", err);
            return 1;
        }
        d.http = std::make_unique<api::HttpServer>(http_options);
        d.register_routes(*d.http);
        try {
            d.http->start();
        } catch (const std::exception &e) {
            d.log->error("{}", e.what());
            return 1;
        }
        d.log->info("API listening on http://{}:{}", d.options.api_bind, d.http->bound_port());
    }

    // Every listener is bound now: publish the ports.
    nlohmann::json runtime = {{"pid", ::getpid()}, {"nodeId", d.node_id}};
    if (d.http) runtime["apiPort"] = d.http->bound_port();
    runtime["clusterPort"] = d.cluster->port();
    const auto runtime_path = d.options.data_dir / "runtime.json";
    if (std::string err; !write_runtime_file(runtime_path, runtime, err)) d.log->warn("{}", err);

    int sig = 0;
    sigwait(&stop_signals, &sig);
    d.log->info("received {}, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    if (d.http) d.http->stop();
    d.worker->stop(); // runs every runner's stop chain
    d.telemetry->stop();
    d.cluster->stop();
    std::filesystem::remove(runtime_path, ec);
    d.log->info("stopped");
    return 0;
}

} // namespace skulk::daemon
