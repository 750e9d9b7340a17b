#include "log/json_formatter.hpp"

#include <nlohmann/json.hpp>

#include <ctime>
#include <unistd.h>

namespace skulk::log {
namespace {

std::string host_name() {
    char buf[256] = {0};
    return ::gethostname(buf, sizeof buf - 1) == 0 ? std::string(buf) : std::string();
}

// 2026-05-04T12:34:56.789Z
std::string rfc3339_utc(spdlog::log_clock::time_point t) {
    const auto since = t.time_since_epoch();
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(since);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(since - secs).count();
    const std::time_t tt = secs.count();
    std::tm tm{};
    ::gmtime_r(&tt, &tm);
    char buf[40];
    const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    std::snprintf(buf + n, sizeof buf - n, ".%03dZ", int(ms));
    return buf;
}

// host/worker/worker.cpp -> "skulk.worker.worker"; no file -> "skulk.<component>".
std::string module_of(const char *file, std::string_view component) {
    if (!file || !*file) return "skulk." + std::string(component);
    std::string_view f(file);
    if (auto at = f.rfind("/host/"); at != std::string_view::npos) f.remove_prefix(at + 6);
    else if (auto slash = f.rfind('/'); slash != std::string_view::npos) f.remove_prefix(slash + 1);
    if (auto dot = f.rfind('.'); dot != std::string_view::npos) f = f.substr(0, dot);
    std::string out = "skulk.";
    for (char c : f) out += c == '/' ? '.' : c;
    return out;
}

thread_local std::map<std::string, std::string> t_message_fields;

} // namespace

std::map<std::string, std::string> &thread_message_fields() { return t_message_fields; }

const char *level_name(spdlog::level::level_enum level) {
    switch (level) {
    case spdlog::level::trace: return "TRACE";
    case spdlog::level::debug: return "DEBUG";
    case spdlog::level::info: return "INFO";
    case spdlog::level::warn: return "WARNING";
    case spdlog::level::err: return "ERROR";
    case spdlog::level::critical: return "CRITICAL";
    default: return "INFO";
    }
}

void JsonFields::set_node_id(std::string id) {
    std::lock_guard lk(mutex_);
    node_id_ = std::move(id);
}

void JsonFields::set(const std::string &key, std::string value) {
    std::lock_guard lk(mutex_);
    extra_[key] = std::move(value);
}

void JsonFields::snapshot(std::string &node_id, std::map<std::string, std::string> &extra) const {
    std::lock_guard lk(mutex_);
    node_id = node_id_;
    extra = extra_;
}

JsonFormatter::JsonFormatter(std::shared_ptr<JsonFields> fields) : fields_(std::move(fields)), host_(host_name()) {}

void JsonFormatter::format(const spdlog::details::log_msg &msg, spdlog::memory_buf_t &dest) {
    std::string node_id;
    std::map<std::string, std::string> extra;
    fields_->snapshot(node_id, extra);
    const std::string_view component(msg.logger_name.data(), msg.logger_name.size());
    // Insertion order is the order an operator reads (ordered_json).
    nlohmann::ordered_json j;
    j["ts"] = rfc3339_utc(msg.time);
    j["level"] = level_name(msg.level);
    j["node_id"] = node_id.empty() ? host_ : node_id;
    j["host"] = host_;
    j["component"] = component;
    j["module"] = module_of(msg.source.filename, component);
    j["function"] = msg.source.funcname ? nlohmann::ordered_json(msg.source.funcname) : nlohmann::ordered_json();
    j["line"] = msg.source.line > 0 ? nlohmann::ordered_json(msg.source.line) : nlohmann::ordered_json();
    j["msg"] = std::string_view(msg.payload.data(), msg.payload.size());
    for (auto &[k, v] : extra) j[k] = std::move(v);
    for (const auto &[k, v] : t_message_fields) j[k] = v;
    // A message with bytes that are not UTF-8 still makes one valid line.
    const std::string line = j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    dest.append(line.data(), line.data() + line.size());
    dest.push_back('\n');
}

std::unique_ptr<spdlog::formatter> JsonFormatter::clone() const { return std::make_unique<JsonFormatter>(fields_); }

} // namespace skulk::log
