// One plugin shared object, opened with Boost.DLL (RTLD_LOCAL | RTLD_NOW)
// and negotiated. The destructor calls the plugin's shutdown() exactly once
// and then unloads the code; handles keep a shared_ptr<const Library>.
#pragma once

#include "plugin/host_services.hpp"
#include "plugin/registry.hpp"

#include <boost/dll/shared_library.hpp>

#include <filesystem>
#include <functional>
#include <memory>

namespace skulk::plugin {

class Library {
public:
    // Announces each step before it runs ("load", "negotiate", "score",
    // "backend_tags"), so a probe parent knows where a child died.
    using StageFn = std::function<void(const char *stage)>;

    // Opens `path` and negotiates. Fills `record` with all it learns. On
    // refusal returns null with record.refused_reason set (and the library
    // already shut down and unloaded again). probe_fd >= 0: running inside a
    // probe child, plugin log lines go to that pipe.
    static std::shared_ptr<Library> open(const std::filesystem::path &path, std::shared_ptr<HostServices> services,
                                         PluginRecord &record, const StageFn &stage = {}, int probe_fd = -1);
    ~Library();
    Library(const Library &) = delete;
    Library &operator=(const Library &) = delete;

    const skulk_plugin_info &info() const { return info_; }
    // The plugin's extension `name` ("<plugin>.<function>"), or null when it
    // has none of that name (or no get_proc_address: minor 0 plugins).
    skulk_proc proc(const std::string &name) const;

private:
    Library() = default;
    // Members are destroyed bottom-up: the host context outlives shutdown()
    // (which may still log), the code is unmapped last of all.
    boost::dll::shared_library lib_;
    std::unique_ptr<HostContext> host_;
    skulk_plugin_info info_{};
    bool negotiated_ = false;
};

} // namespace skulk::plugin
