// The structured log line: one JSON object per record, for VictoriaLogs
// (deployment/logging/). Fields: ts (RFC 3339 UTC, ms), level, node_id,
// host, component (the logger's name), module, function and line (null
// where the call site gave no source location), msg, then the process-wide
// fields (a runner's runner_id / instance_id).
#pragma once

#include <spdlog/formatter.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace skulk::log {

// Shared by every JsonFormatter clone: node_id is known only once the daemon
// has made it, after the sinks exist.
class JsonFields {
public:
    void set_node_id(std::string id);
    void set(const std::string &key, std::string value);
    // Copies under the lock: formatting runs on the logging thread.
    void snapshot(std::string &node_id, std::map<std::string, std::string> &extra) const;

private:
    mutable std::mutex mutex_;
    std::string node_id_;
    std::map<std::string, std::string> extra_;
};

class JsonFormatter final : public spdlog::formatter {
public:
    explicit JsonFormatter(std::shared_ptr<JsonFields> fields);
    void format(const spdlog::details::log_msg &msg, spdlog::memory_buf_t &dest) override;
    std::unique_ptr<spdlog::formatter> clone() const override;

private:
    std::shared_ptr<JsonFields> fields_;
    std::string host_;
};

// Fields of the one record being formatted on this thread (the runner log
// relay sets them around a synchronous sink call); added to the JSON line.
std::map<std::string, std::string> &thread_message_fields();

// "INFO", "WARNING", ... (the names the seeds' queries use: level:ERROR).
const char *level_name(spdlog::level::level_enum level);

} // namespace skulk::log
