#include "log/logging.hpp"
#include "log/log_control.hpp"

#include "log/durable_file_sink.hpp"
#include "log/json_formatter.hpp"
#include "log/log_settings.hpp"
#include "log/runner_relay.hpp"
#include "log/vector_shipper.hpp"

#include <spdlog/async.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <cstdlib>
#include <mutex>
#include <vector>

#ifndef SKULK_SOURCE_LOGGING_DIR
#define SKULK_SOURCE_LOGGING_DIR ""
#endif

namespace skulk::log {
namespace {

constexpr const char *kPattern = "%Y-%m-%d %H:%M:%S.%e %^%-5l%$ [%n] %v";

std::mutex g_mutex;
std::vector<spdlog::sink_ptr> g_sinks;
spdlog::level::level_enum g_level = spdlog::level::info;
bool g_async = false; // init_daemon: loggers are async_loggers on one thread pool
std::shared_ptr<JsonFields> g_fields = std::make_shared<JsonFields>();
std::shared_ptr<VectorShipper> g_shipper;
std::unique_ptr<RunnerLogRelay> g_relay; // the daemon: runners' records come in here
std::filesystem::path g_durable_path;

spdlog::level::level_enum level_for(int verbosity) {
    if (verbosity >= 2) return spdlog::level::trace;
    if (verbosity == 1) return spdlog::level::debug;
    if (verbosity == -1) return spdlog::level::warn;
    if (verbosity <= -2) return spdlog::level::err;
    return spdlog::level::info;
}

void ensure_sinks_locked() {
    if (g_sinks.empty()) g_sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
}

std::shared_ptr<spdlog::logger> make_logger_locked(const std::string &component) {
    if (!g_async) {
        auto logger = std::make_shared<spdlog::logger>(component, g_sinks.begin(), g_sinks.end());
        spdlog::initialize_logger(logger); // takes the global level and pattern, registers
        return logger;
    }
    // Not initialize_logger: it would put the global pattern on every sink,
    // the JSON ones included. Each sink keeps the formatter it was given.
    auto logger = std::make_shared<spdlog::async_logger>(component, g_sinks.begin(), g_sinks.end(), spdlog::thread_pool(),
                                                         spdlog::async_overflow_policy::overrun_oldest);
    logger->set_level(g_level);
    logger->flush_on(spdlog::level::warn);
    spdlog::register_logger(logger);
    return logger;
}

// The vector.yaml Vector runs with: $SKULK_VECTOR_CONFIG, the install's
// share/skulk/logging/, the source tree's deployment/logging/.
std::filesystem::path find_vector_config(const LogSettings &s) {
    if (!s.vector_config.empty()) return s.vector_config;
    std::error_code ec;
    const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        const auto installed = exe.parent_path() / "../share/skulk/logging/vector.yaml";
        if (std::filesystem::exists(installed, ec)) return installed.lexically_normal();
    }
    return std::filesystem::path(SKULK_SOURCE_LOGGING_DIR) / "vector.yaml";
}

// In-process shipping: the sink, or a reason why there is none (logged once).
spdlog::sink_ptr make_shipper_sink(const LogSettings &s, std::vector<std::string> &warnings) {
    const auto vector = find_on_path("vector");
    if (vector.empty()) {
        warnings.push_back("SKULK_LOGGING_EXTERNAL=0 but `vector` is not on PATH: logs are not shipped "
                           "(install Vector from vector.dev, or set SKULK_LOGGING_EXTERNAL=1 for JSON on stdout)");
        return nullptr;
    }
    const auto config = find_vector_config(s);
    std::error_code ec;
    if (!std::filesystem::exists(config, ec)) {
        warnings.push_back("the Vector config " + config.string() + " does not exist (set SKULK_VECTOR_CONFIG): logs are not shipped");
        return nullptr;
    }
    std::filesystem::create_directories(s.vector_data_dir, ec);
    ShipperOptions o;
    o.executable = vector;
    o.args = {"--config", config.string()};
    o.env = {"SKULK_LOGGING_INGEST_URL=" + s.ingest_url, "SKULK_VECTOR_DATA_DIR=" + s.vector_data_dir.string()};
    o.pipe_bytes = s.shipper_pipe_bytes;
    o.note = [](spdlog::level::level_enum level, const std::string &msg) { get("logging")->log(level, "{}", msg); };
    g_shipper = std::make_shared<VectorShipper>(std::move(o));
    auto sink = std::make_shared<ShipperSink>(g_shipper);
    sink->set_formatter(std::make_unique<JsonFormatter>(g_fields));
    return sink;
}

} // namespace

void init(int verbosity) {
    std::lock_guard lock(g_mutex);
    ensure_sinks_locked();
    g_level = level_for(verbosity);
    spdlog::set_level(g_level);
    spdlog::set_pattern(kPattern);
    spdlog::apply_all([](std::shared_ptr<spdlog::logger> l) { l->set_level(g_level); });
}

std::string init_daemon(int verbosity, const LoggingConfig &from_config) {
    LogSettings s;
    s.enabled = from_config.enabled.value_or(s.enabled);
    s.external = from_config.external.value_or(s.external);
    if (auto err = read_log_settings(s); !err.empty()) return err;
    const char *url_env = std::getenv("SKULK_LOGGING_INGEST_URL");
    if (from_config.ingest_url && (!url_env || !*url_env)) s.ingest_url = *from_config.ingest_url;
    std::vector<std::string> warnings;
    {
        std::lock_guard lock(g_mutex);
        g_level = level_for(verbosity);
        spdlog::set_level(g_level);
        auto human = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
        human->set_formatter(std::make_unique<spdlog::pattern_formatter>(kPattern));
        g_sinks = {human};
        if (s.durable) {
            try {
                auto durable = std::make_shared<DurableFileSink>(DurableLogOptions{s.dir, "skulk.log", s.rotate_bytes, s.keep_archives});
                if (auto w = durable->take_warning(); !w.empty()) warnings.push_back("durable log: " + w);
                g_durable_path = durable->path();
                g_sinks.push_back(durable);
            } catch (const std::exception &e) {
                warnings.push_back(std::string("no durable log: ") + e.what());
            }
        }
        if (s.enabled && s.external) {
            auto json = std::make_shared<spdlog::sinks::stdout_sink_mt>();
            json->set_formatter(std::make_unique<JsonFormatter>(g_fields));
            g_sinks.push_back(json);
        } else if (s.enabled) {
            if (auto sink = make_shipper_sink(s, warnings)) g_sinks.push_back(sink);
        }
        // Runners get SKULK_LOG_RELAY: setenv here, before any thread that reads the environment.
        if (g_sinks.size() > 1) {
            try {
                g_relay = std::make_unique<RunnerLogRelay>(std::vector<spdlog::sink_ptr>(g_sinks.begin() + 1, g_sinks.end()));
            } catch (const std::exception &e) {
                warnings.push_back(std::string("runners' lines stay on stderr only: ") + e.what());
            }
        }
        spdlog::init_thread_pool(s.queue_lines, 1);
        g_async = true;
    }
    spdlog::set_default_logger(get("skulk")); // stray spdlog::info() calls use the same sinks
    spdlog::flush_every(std::chrono::seconds(1));
    auto self = get("logging");
    if (!g_durable_path.empty()) self->info("durable log {}", g_durable_path.string());
    for (const auto &w : warnings) self->warn("{}", w);
    if (g_shipper) g_shipper->start();
    if (g_relay) g_relay->start();
    return "";
}

void relay_to_daemon(const std::string &runner_id, const std::string &instance_id) {
    const char *address = std::getenv("SKULK_LOG_RELAY");
    if (!address || !*address) return;
    std::lock_guard lock(g_mutex);
    ensure_sinks_locked();
    try {
        auto sink = std::make_shared<RelaySink>(address, runner_id, instance_id);
        g_sinks.push_back(sink);
        spdlog::apply_all([&](std::shared_ptr<spdlog::logger> l) { l->sinks().push_back(sink); });
    } catch (const std::exception &) {
        // No daemon listening (a runner started by hand): stderr as before.
    }
}

void set_node_id(const std::string &id) { g_fields->set_node_id(id); }

void set_field(const std::string &key, const std::string &value) { g_fields->set(key, value); }

DroppedLines dropped_lines() {
    DroppedLines d;
    if (g_async)
        if (auto pool = spdlog::thread_pool()) d.queue_full = pool->overrun_counter();
    if (g_shipper) d.shipper = g_shipper->dropped();
    return d;
}

std::filesystem::path durable_log_path() { return g_durable_path; }

void shutdown() {
    if (!g_async) return;
    if (g_relay) g_relay->stop(); // the runners are gone by now
    spdlog::apply_all([](std::shared_ptr<spdlog::logger> l) { l->flush(); });
    if (g_shipper) g_shipper->stop(); // after the flush: the last lines are in the pipe
    spdlog::shutdown(); // drains what is left and joins the logging thread
}

std::shared_ptr<spdlog::logger> get(const std::string &component) {
    std::lock_guard lock(g_mutex);
    if (auto existing = spdlog::get(component)) return existing;
    ensure_sinks_locked();
    return make_logger_locked(component);
}

} // namespace skulk::log
