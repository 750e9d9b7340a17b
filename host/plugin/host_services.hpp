// The services the host lends each plugin library (skulk_host_api): logging
// into spdlog logger "plugin:<name>", and the cancellation query.
#pragma once

#include "skulk/abi.h"

#include <spdlog/spdlog.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>

namespace skulk::plugin {

// Shared by the registry and every library it loaded (a library can outlive
// the registry), so the cancel hook stays valid for as long as any plugin does.
struct HostServices {
    mutable std::shared_mutex mutex;
    std::function<bool(uint64_t)> cancelled;
    bool is_cancelled(uint64_t request_id) const {
        std::shared_lock lock(mutex);
        return cancelled && cancelled(request_id);
    }
};

// One per library; `api.host` points back at this object, so it must not
// move: always heap-allocated, alive until the plugin's shutdown() returns.
class HostContext {
public:
    // log_name: the logger until set_name() (the file name, before negotiation).
    // probe_fd >= 0: inside a probe child, log lines go to that pipe (as JSON
    // lines) instead of spdlog, whose locks may be held by threads that did
    // not survive fork().
    HostContext(std::shared_ptr<HostServices> services, const std::string &log_name, int probe_fd = -1);
    HostContext(const HostContext &) = delete;
    HostContext &operator=(const HostContext &) = delete;

    const skulk_host_api *api() const { return &api_; }
    // Switches logging to "plugin:<name>" once the plugin has told its name.
    void set_name(const std::string &name);
    void log(int level, std::string_view message);

private:
    skulk_host_api api_{};
    std::shared_ptr<HostServices> services_;
    std::mutex logger_mutex_;
    std::shared_ptr<spdlog::logger> logger_;
    int probe_fd_ = -1;
};

// Writes all of `bytes` to fd (retrying on EINTR/short writes); false on error.
bool write_all(int fd, std::string_view bytes);

} // namespace skulk::plugin
