#include "plugin/host_services.hpp"

#include "log/logging.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <unistd.h>

namespace skulk::plugin {
namespace {

// The handle lent to the plugin is this library's HostContext.
HostContext *context_of(skulk_host_ctx *host) { return reinterpret_cast<HostContext *>(host); }

void log_callback(skulk_host_ctx *host, int level, skulk_str msg) {
    if (!host) return;
    context_of(host)->log(level, msg.ptr ? std::string_view(msg.ptr, msg.len) : std::string_view());
}

} // namespace

bool write_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        const ssize_t n = ::write(fd, bytes.data(), bytes.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        bytes.remove_prefix(size_t(n));
    }
    return true;
}

HostContext::HostContext(std::shared_ptr<HostServices> services, const std::string &log_name, int probe_fd)
    : services_(std::move(services)), probe_fd_(probe_fd) {
    api_.size = sizeof api_;
    api_.abi_minor = SKULK_ABI_MINOR;
    api_.host = reinterpret_cast<skulk_host_ctx *>(this);
    api_.log = log_callback;
    // Called from the plugin's threads; HostServices is shared and locked.
    api_.cancelled = [](skulk_host_ctx *host, uint64_t request_id) -> int {
        auto *self = context_of(host);
        return self && self->services_ && self->services_->is_cancelled(request_id) ? 1 : 0;
    };
    if (probe_fd_ < 0) logger_ = log::get("plugin:" + log_name);
}

void HostContext::set_name(const std::string &name) {
    if (probe_fd_ >= 0) return;
    auto logger = log::get("plugin:" + name);
    std::lock_guard lock(logger_mutex_);
    logger_ = std::move(logger);
}

void HostContext::log(int level, std::string_view message) {
    level = std::clamp(level, int(SKULK_LOG_TRACE), int(SKULK_LOG_ERROR));
    if (probe_fd_ >= 0) {
        const std::string line =
            nlohmann::json{{"log", level}, {"msg", std::string(message)}}.dump(-1, ' ', false,
                                                                               nlohmann::json::error_handler_t::replace) +
            "\n";
        write_all(probe_fd_, line);
        return;
    }
    std::shared_ptr<spdlog::logger> logger;
    {
        std::lock_guard lock(logger_mutex_);
        logger = logger_;
    }
    // skulk_log_level uses spdlog's numbering (trace=0 .. error=4).
    logger->log(static_cast<spdlog::level::level_enum>(level), "{}", message);
}

} // namespace skulk::plugin
