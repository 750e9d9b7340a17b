#include "log/logging.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <mutex>

namespace skulk::log {
namespace {

std::mutex g_mutex;
std::vector<spdlog::sink_ptr> g_sinks;
spdlog::level::level_enum g_level = spdlog::level::info;

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

} // namespace

void init(int verbosity) {
    std::lock_guard lock(g_mutex);
    ensure_sinks_locked();
    g_level = level_for(verbosity);
    spdlog::set_level(g_level);
    spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ [%n] %v");
    spdlog::apply_all([](std::shared_ptr<spdlog::logger> l) { l->set_level(g_level); });
}

std::shared_ptr<spdlog::logger> get(const std::string &component) {
    std::lock_guard lock(g_mutex);
    if (auto existing = spdlog::get(component)) return existing;
    ensure_sinks_locked();
    auto logger = std::make_shared<spdlog::logger>(component, g_sinks.begin(), g_sinks.end());
    spdlog::initialize_logger(logger); // takes the global level and pattern, registers
    return logger;
}

} // namespace skulk::log
