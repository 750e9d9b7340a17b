// The crash-safe first look at a plugin: Library::open (dlopen, negotiate,
// score, backend_tags) runs in a forked child that reports over a pipe and
// _exit()s. A plugin that segfaults, aborts, or hangs there kills only the
// child; the daemon records "crashed in <stage> (signal N)" and never loads it.
#pragma once

#include "plugin/registry.hpp"

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>

namespace skulk::plugin {

// Receives the plugin's log lines from the child (level: skulk_log_level).
using ProbeLogFn = std::function<void(int level, const std::string &message)>;

// Always returns a record: the child's verdict, or a refusal describing how
// the child died (signal, timeout, exit code) and in which stage.
PluginRecord probe_in_child(const std::filesystem::path &path, std::chrono::milliseconds timeout,
                            const ProbeLogFn &on_log);

} // namespace skulk::plugin
