#include "log/log_settings.hpp"

#include "common/paths.hpp"

#include <cstdlib>
#include <string_view>

namespace skulk::log {
namespace {

const char *env(const char *name) {
    const char *v = std::getenv(name);
    return v && *v ? v : nullptr;
}

std::filesystem::path home() {
    const char *h = env("HOME");
    return h ? std::filesystem::path(h) : std::filesystem::path("/tmp");
}

// 1/0, true/false, yes/no, on/off.
bool parse_bool(std::string_view v, bool &out) {
    for (auto t : {"1", "true", "yes", "on"})
        if (v == t) return out = true, true;
    for (auto f : {"0", "false", "no", "off"})
        if (v == f) return out = false, true;
    return false;
}

bool parse_uint(std::string_view v, uint64_t min, uint64_t &out) {
    if (v.empty() || v.find_first_not_of("0123456789") != std::string_view::npos || v.size() > 19) return false;
    out = std::stoull(std::string(v));
    return out >= min;
}

std::string bad(const char *name, const char *value, const char *want) {
    return std::string("skulk-host: ") + name + " must be " + want + ", got \"" + value + "\"";
}

} // namespace

std::filesystem::path platform_log_dir() {
#ifdef __APPLE__
    return home() / ".skulk/logs";
#else
    return default_log_dir();
#endif
}

std::string read_log_settings(LogSettings &o) {
    struct Flag {
        const char *name;
        bool *target;
    };
    for (auto [name, target] : {Flag{"SKULK_LOGGING_ENABLED", &o.enabled}, Flag{"SKULK_LOGGING_EXTERNAL", &o.external},
                                Flag{"SKULK_LOG_DURABLE", &o.durable}})
        if (const char *v = env(name); v && !parse_bool(v, *target)) return bad(name, v, "1 or 0");
    uint64_t n = 0;
    if (const char *v = env("SKULK_LOG_ROTATE_BYTES")) {
        if (!parse_uint(v, 1024, n)) return bad("SKULK_LOG_ROTATE_BYTES", v, "a byte count of at least 1024");
        o.rotate_bytes = n;
    }
    if (const char *v = env("SKULK_LOG_KEEP_ARCHIVES")) {
        if (!parse_uint(v, 0, n) || n > 1000) return bad("SKULK_LOG_KEEP_ARCHIVES", v, "a count 0..1000");
        o.keep_archives = unsigned(n);
    }
    if (const char *v = env("SKULK_LOG_QUEUE_LINES")) {
        if (!parse_uint(v, 16, n) || n > (1u << 24)) return bad("SKULK_LOG_QUEUE_LINES", v, "a line count 16..16777216");
        o.queue_lines = size_t(n);
    }
    if (const char *v = env("SKULK_LOG_SHIPPER_PIPE_BYTES")) {
        if (!parse_uint(v, 4096, n) || n > (1u << 30)) return bad("SKULK_LOG_SHIPPER_PIPE_BYTES", v, "a byte count 4096..1073741824");
        o.shipper_pipe_bytes = size_t(n);
    }
    o.dir = env("SKULK_LOG_DIR") ? std::filesystem::path(env("SKULK_LOG_DIR")) : platform_log_dir();
    o.ingest_url = env("SKULK_LOGGING_INGEST_URL")
                       ? env("SKULK_LOGGING_INGEST_URL")
                       : "http://localhost:9428/insert/jsonline?_stream_fields=node_id,component&_msg_field=msg&_time_field=ts";
    if (const char *v = env("SKULK_VECTOR_CONFIG")) o.vector_config = v;
    o.vector_data_dir = env("SKULK_VECTOR_DATA_DIR") ? std::filesystem::path(env("SKULK_VECTOR_DATA_DIR")) : home() / ".skulk/vector";
    return "";
}

} // namespace skulk::log
