// Logging setup: spdlog, human-readable lines on stderr. Each subsystem asks
// for its component logger once and keeps it; all share the same sinks.
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace skulk::log {

// verbosity: 0 = info, >0 more (debug, trace), <0 less (warn, error).
void init(int verbosity);

// The logger of one component ("api", "cluster", "plugin", ...).
std::shared_ptr<spdlog::logger> get(const std::string &component);

} // namespace skulk::log
