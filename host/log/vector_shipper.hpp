// In-process log shipping (SKULK_LOGGING_EXTERNAL=0): the daemon runs Vector
// as its child and writes JSON lines into the child's stdin through a
// non-blocking pipe. A full pipe (Vector slow or stalled) drops the line and
// counts it; nothing here ever waits on Vector. When the child exits it is
// restarted after a backoff (1 s doubling to 60 s; reset after a minute of
// running). The child dies with the daemon (PR_SET_PDEATHSIG).
#pragma once

#include <spdlog/common.h>
#include <spdlog/sinks/base_sink.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace skulk::log {

// The first executable `name` on $PATH, or "" when there is none.
std::filesystem::path find_on_path(const std::string &name);

struct ShipperOptions {
    std::filesystem::path executable;   // absolute (find_on_path)
    std::vector<std::string> args;      // argv[1..]
    std::vector<std::string> env;       // KEY=VALUE added to the daemon's environment
    size_t pipe_bytes = 1 << 20;        // F_SETPIPE_SZ request (the kernel may round or refuse)
    std::chrono::milliseconds backoff_min{1000};
    std::chrono::milliseconds backoff_max{60000};
    // The shipper's own news (started, exited, restarting): logged by the owner.
    std::function<void(spdlog::level::level_enum, const std::string &)> note;
};

class VectorShipper {
public:
    explicit VectorShipper(ShipperOptions options);
    ~VectorShipper(); // stop()
    VectorShipper(const VectorShipper &) = delete;
    VectorShipper &operator=(const VectorShipper &) = delete;

    void start();
    // Closes the pipe (Vector drains and exits on EOF), then SIGTERM/SIGKILL
    // after a short grace; joins the monitor thread.
    void stop();

    // One whole line (with its '\n'). Never blocks; false when dropped.
    bool write_line(std::string_view line);
    uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
    uint64_t starts() const { return starts_.load(std::memory_order_relaxed); }

private:
    void monitor();
    bool spawn(int &pidfd, pid_t &pid);
    void end_child(int pidfd, pid_t pid, bool graceful);
    bool wait_stop(std::chrono::milliseconds timeout); // true when stop() was called
    void set_pipe(int fd);

    ShipperOptions options_;
    std::thread thread_;
    int stop_pipe_[2] = {-1, -1};
    std::atomic<bool> stopping_{false};
    std::mutex write_mutex_;
    int write_fd_ = -1;
    std::string pending_; // the unwritten rest of a line longer than PIPE_BUF
    std::atomic<uint64_t> dropped_{0};
    std::atomic<uint64_t> starts_{0};
};

// A spdlog sink that formats with its formatter (JSON) and hands the line to a shipper.
class ShipperSink final : public spdlog::sinks::base_sink<std::mutex> {
public:
    explicit ShipperSink(std::shared_ptr<VectorShipper> shipper) : shipper_(std::move(shipper)) {}

protected:
    void sink_it_(const spdlog::details::log_msg &msg) override;
    void flush_() override {}

private:
    std::shared_ptr<VectorShipper> shipper_;
};

} // namespace skulk::log
