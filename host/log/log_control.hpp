// The daemon's logging (logging.hpp stays the tools' and runners' plain
// stderr setup, included everywhere):
//   - init_daemon(): stderr as before, the durable skulk.log, and
//     (SKULK_LOGGING_ENABLED=1) one JSON object per line on stdout or into an
//     in-process Vector; every sink behind one bounded asynchronous queue, so
//     a thread that logs never waits on a disk or a shipper (a full queue
//     drops its oldest line and counts it: dropped_lines(), /metrics);
//   - runners send their records to the daemon (relay_to_daemon).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace skulk::log {

// skulk.yaml's logging: section (logging.enabled, logging.ingest_url,
// logging.external), for the config code to fill; a SKULK_LOGGING_*
// variable wins over it.
struct LoggingConfig {
    std::optional<bool> enabled;
    std::optional<bool> external;
    std::optional<std::string> ingest_url;
};

// Reads SKULK_LOGGING_* / SKULK_LOG_* (log_settings.hpp) over `from_config`.
// Returns "" or the error naming the variable (the caller exits 2). A durable
// log or shipper that cannot start is a warning in the log, never a failure.
std::string init_daemon(int verbosity, const LoggingConfig &from_config = {});

// A runner (after init()): also send every record to the daemon that
// started it (SKULK_LOG_RELAY), tagged with these; no-op without a daemon.
void relay_to_daemon(const std::string &runner_id, const std::string &instance_id);

// The daemon's node id, in every JSON line from now on (before: the host name).
void set_node_id(const std::string &id);

// A process-wide JSON field.
void set_field(const std::string &key, const std::string &value);

struct DroppedLines {
    uint64_t queue_full = 0; // the async queue was full: the oldest line went
    uint64_t shipper = 0;    // the pipe to Vector was full or Vector was down
};
DroppedLines dropped_lines();

// The durable log file ("" when there is none).
std::filesystem::path durable_log_path();

// Drains the queue and stops the shipper: the last lines reach every sink.
void shutdown();

} // namespace skulk::log
