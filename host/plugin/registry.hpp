// The plugin registry (modelled on ggml's backend registry): finds every
// `*.so` in the plugin directories, probes each one in a forked child (so a
// plugin that crashes while negotiating cannot take the daemon down), loads
// the ones that pass, and answers "which plugin of kind K, preferring tags T?".
//
// Ownership: a LoadedPlugin holds a shared_ptr to its library; the library
// calls the plugin's shutdown() once and is unloaded only when the last
// LoadedPlugin handle is gone. Code that creates plugin instances keeps a
// shared_ptr<const LoadedPlugin> for as long as the instance lives.
#pragma once

#include "skulk/abi.h"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace skulk::plugin {

class Library;
struct HostServices;

// What the registry learnt about one candidate file, usable or not.
struct PluginRecord {
    std::filesystem::path path;
    bool usable = false;
    std::string refused_reason;  // empty when usable
    uint32_t kind = 0;           // skulk_plugin_kind, 0 if never learnt
    std::string name, version;
    uint32_t abi_major = 0, abi_minor = 0;
    int32_t score = 0;
    std::vector<std::string> backend_tags;
};

// "compute", "served", "adapter", or "unknown(N)".
std::string kind_name(uint32_t kind);

class LoadedPlugin {
public:
    LoadedPlugin(PluginRecord record, std::shared_ptr<const Library> library);
    const PluginRecord &record() const { return record_; }
    // The vtable of this plugin's kind; null for the other kinds.
    const skulk_compute_v1 *compute() const;
    const skulk_served_v1 *served() const;
    const skulk_adapter_v1 *adapter() const;
    // A plugin-specific extension by name ("<plugin>.<function>"); null when
    // absent. Cast it to the signature the plugin documents.
    skulk_proc proc(const std::string &name) const;

private:
    PluginRecord record_;
    std::shared_ptr<const Library> library_; // keeps the code mapped
};

class Registry {
public:
    // The directories to scan, in priority order; empty: the defaults
    // (default_plugin_dirs()).
    explicit Registry(std::vector<std::filesystem::path> dirs);
    ~Registry();
    Registry(const Registry &) = delete;
    Registry &operator=(const Registry &) = delete;

    // Probe + load every candidate. Refused plugins are logged and kept in
    // records() with the reason. Calling scan() again starts over.
    // Forks one probe child per candidate and waits for it by pid: call it
    // before starting threads (the daemon does), and never while something
    // else in the process reaps children with waitpid(-1).
    void scan();

    const std::vector<PluginRecord> &records() const { return records_; }
    const std::vector<std::filesystem::path> &dirs() const { return dirs_; }

    // The highest-score usable plugin of `kind` that has one of `tags` (tags
    // in preference order; empty: any). Null when none.
    std::shared_ptr<const LoadedPlugin> best(uint32_t kind, const std::vector<std::string> &tags = {}) const;
    std::vector<std::shared_ptr<const LoadedPlugin>> all(uint32_t kind) const;
    // Of every usable plugin, deduplicated, in scan order (for telemetry).
    std::vector<std::string> backend_tags() const;

    // What skulk_host_api.cancelled(request_id) answers plugins. Unset: never.
    void set_cancelled(std::function<bool(uint64_t request_id)> cancelled);
    // How long one probe child may take before it is killed (default 5 s).
    void set_probe_timeout(std::chrono::milliseconds timeout) { probe_timeout_ = timeout; }

private:
    std::vector<std::filesystem::path> dirs_;
    bool explicit_dirs_;
    std::chrono::milliseconds probe_timeout_{5000};
    std::shared_ptr<HostServices> services_;
    std::vector<PluginRecord> records_;
    std::vector<std::shared_ptr<const LoadedPlugin>> loaded_;
};

// <prefix>/lib/skulk/plugins (from the binary's ../lib/skulk/plugins), then
// plugins/ next to the binary.
std::vector<std::filesystem::path> default_plugin_dirs();

} // namespace skulk::plugin
