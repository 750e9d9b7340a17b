// Where and how the daemon logs, read from SKULK_LOGGING_* / SKULK_LOG_*
// environment variables (the service's ~/.skulk/skulk.env sets them; see
// docs/operations.md "Logs"). Tools and runners keep the plain stderr setup.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace skulk::log {

struct LogSettings {
    // Structured logging: one JSON object per line, to stdout (external
    // shipper) or into an in-process Vector child (external = false).
    bool enabled = false;            // SKULK_LOGGING_ENABLED
    bool external = true;            // SKULK_LOGGING_EXTERNAL
    std::string ingest_url;          // SKULK_LOGGING_INGEST_URL (handed to Vector)
    std::filesystem::path vector_config;   // SKULK_VECTOR_CONFIG (default: the install's vector.yaml)
    std::filesystem::path vector_data_dir; // SKULK_VECTOR_DATA_DIR (default ~/.skulk/vector)
    size_t shipper_pipe_bytes = 1 << 20;   // SKULK_LOG_SHIPPER_PIPE_BYTES: room in the pipe to Vector

    // The durable skulk.log: fresh each launch, previous runs and rotations
    // kept as skulk.log.<n>.zst, at most keep_archives of them.
    bool durable = true;                   // SKULK_LOG_DURABLE=0 turns it off
    std::filesystem::path dir;             // SKULK_LOG_DIR (default: platform_log_dir())
    uint64_t rotate_bytes = 100ull << 20;  // SKULK_LOG_ROTATE_BYTES
    unsigned keep_archives = 5;            // SKULK_LOG_KEEP_ARCHIVES

    // The asynchronous queue between the threads that log and the sinks:
    // when it is full the oldest line is dropped (and counted), never waited for.
    size_t queue_lines = 8192;             // SKULK_LOG_QUEUE_LINES
};

// The platform's log directory: ~/.skulk/logs on macOS; elsewhere
// $SKULK_HOME/logs, $XDG_CACHE_HOME/skulk/logs, ~/.cache/skulk/logs.
std::filesystem::path platform_log_dir();

// Reads the variables over the defaults. Returns "" or an error that names
// the variable and the bad value.
std::string read_log_settings(LogSettings &out);

} // namespace skulk::log
