#include "worker/supervisor.hpp"

#include "log/logging.hpp"

#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <optional>
#include <poll.h>
#include <sys/eventfd.h>
#include <system_error>
#include <unistd.h>

namespace skulk::worker {
namespace {

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

int poll_timeout(clock::time_point deadline) {
    const auto left = std::chrono::ceil<milliseconds>(deadline - clock::now()).count();
    return left <= 0 ? 0 : int(std::min<long long>(left, 60'000));
}

std::string seconds_text(milliseconds d) {
    const double s = double(d.count()) / 1000.0;
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g s", s);
    return buf;
}

} // namespace

const char *to_string(RunnerPhase phase) {
    switch (phase) {
    case RunnerPhase::idle: return "idle";
    case RunnerPhase::starting: return "starting";
    case RunnerPhase::ready: return "ready";
    case RunnerPhase::restarting: return "restarting";
    case RunnerPhase::stopping: return "stopping";
    case RunnerPhase::stopped: return "stopped";
    case RunnerPhase::gave_up: return "gave_up";
    }
    return "?";
}

const char *to_string(StopMethod method) {
    switch (method) {
    case StopMethod::not_running: return "not_running";
    case StopMethod::graceful: return "graceful";
    case StopMethod::sigterm: return "sigterm";
    case StopMethod::sigkill: return "sigkill";
    }
    return "?";
}

milliseconds warmup_deadline_from_env() {
    const milliseconds fallback = std::chrono::seconds(300);
    const char *v = std::getenv("SKULK_WARMUP_DEADLINE_SECONDS");
    if (!v || !*v) return fallback;
    char *end = nullptr;
    const double s = std::strtod(v, &end);
    if (end == v || *end != '\0' || !std::isfinite(s) || s <= 0) {
        log::get("supervisor")->warn("SKULK_WARMUP_DEADLINE_SECONDS='{}' is not a positive number; using 300", v);
        return fallback;
    }
    return milliseconds(static_cast<long long>(s * 1000.0));
}

RunnerSupervisor::RunnerSupervisor(SupervisorOptions options)
    : options_(std::move(options)), breaker_(options_.max_failures, options_.failure_window) {
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
}

RunnerSupervisor::~RunnerSupervisor() {
    stop();
    ::close(wake_fd_);
}

void RunnerSupervisor::start() {
    std::lock_guard lock(stop_mutex_);
    if (monitor_.joinable() || stop_requested_) return;
    monitor_ = std::thread([this] { run(); });
}

StopReport RunnerSupervisor::stop() {
    std::lock_guard lock(stop_mutex_);
    stop_requested_ = true;
    wake();
    if (monitor_.joinable()) monitor_.join();
    std::lock_guard state_lock(mutex_);
    return stop_report_;
}

void RunnerSupervisor::wake() {
    const uint64_t one = 1;
    const ssize_t n = ::write(wake_fd_, &one, sizeof one);
    (void)n; // EAGAIN: a wake-up is already pending
}

void RunnerSupervisor::report_ready() {
    ready_reported_ = true;
    wake();
}

bool RunnerSupervisor::send_control(std::string_view line) {
    std::lock_guard lock(mutex_);
    return current_ && current_->send_control(line);
}

RunnerPhase RunnerSupervisor::phase() const {
    std::lock_guard lock(mutex_);
    return phase_;
}

bool RunnerSupervisor::wait_for_phase(RunnerPhase target, milliseconds timeout) const {
    std::unique_lock lock(mutex_);
    return phase_changed_.wait_for(lock, timeout, [&] { return phase_ == target; });
}

std::string RunnerSupervisor::give_up_reason() const {
    std::lock_guard lock(mutex_);
    return give_up_reason_;
}

pid_t RunnerSupervisor::pid() const {
    std::lock_guard lock(mutex_);
    return pid_;
}

int RunnerSupervisor::spawn_count() const {
    std::lock_guard lock(mutex_);
    return spawns_;
}

void RunnerSupervisor::set_phase(RunnerPhase p, const std::string &detail) {
    {
        std::lock_guard lock(mutex_);
        phase_ = p;
    }
    phase_changed_.notify_all();
    auto lg = log::get("supervisor");
    if (p == RunnerPhase::gave_up || p == RunnerPhase::restarting)
        lg->warn("{}: {} ({})", options_.name, to_string(p), detail);
    else
        lg->info("{}: {}{}{}", options_.name, to_string(p), detail.empty() ? "" : " - ", detail);
    if (options_.on_phase) options_.on_phase(p, detail);
}

void RunnerSupervisor::drain_status(ChildProcess &child) {
    char buf[4096];
    while (child.status_fd() >= 0) {
        const ssize_t n = ::read(child.status_fd(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) break; // EAGAIN: drained
        if (n == 0) {     // the child closed fd 3
            child.close_status();
            break;
        }
        status_buffer_.append(buf, size_t(n));
        for (size_t nl; (nl = status_buffer_.find('\n')) != std::string::npos;) {
            std::string line = status_buffer_.substr(0, nl);
            status_buffer_.erase(0, nl + 1);
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if (line.empty()) continue;
            if (line == "ready") {
                ready_reported_ = true;
                continue;
            }
            const auto sp = line.find(' ');
            const std::string phase = line.substr(0, sp), detail = sp == std::string::npos ? "" : line.substr(sp + 1);
            recorder_.record(phase, "reported", detail);
            if (options_.on_report) options_.on_report(phase, detail);
        }
        // A runner that never ends a line must not grow the buffer forever.
        if (status_buffer_.size() > 64 * 1024) status_buffer_.clear();
    }
}

bool RunnerSupervisor::wait_exit(ChildProcess &child, clock::time_point deadline, ExitStatus &status) {
    for (;;) {
        if (auto st = child.try_reap()) {
            status = *st;
            drain_status(child);
            return true;
        }
        const auto now = clock::now();
        if (now >= deadline) return false;
        pollfd fds[2] = {{child.pidfd(), POLLIN, 0}, {child.status_fd(), POLLIN, 0}};
        const int r = ::poll(fds, child.status_fd() >= 0 ? 2 : 1, poll_timeout(deadline));
        if (r > 0 && fds[1].revents) drain_status(child);
    }
}

RunnerSupervisor::Watch RunnerSupervisor::watch(ChildProcess &child, ExitStatus &status, std::string &failure) {
    const auto deadline = clock::now() + options_.warmup_deadline;
    bool ready = false;
    for (;;) {
        if (stop_requested_) return Watch::stop_requested;
        if (!ready && ready_reported_) {
            ready = true;
            recorder_.record("ready", "reported");
            set_phase(RunnerPhase::ready, "pid " + std::to_string(child.pid()));
        }
        if (auto st = child.try_reap()) {
            status = *st;
            drain_status(child);
            failure = "runner exited unexpectedly" + std::string(ready ? "" : " before it was ready") + ": " +
                      status.describe();
            return Watch::exited;
        }
        if (!ready && clock::now() >= deadline) {
            const std::string why = "not ready within " + seconds_text(options_.warmup_deadline) +
                                    " (warmup deadline, SKULK_WARMUP_DEADLINE_SECONDS)";
            recorder_.record("warmup", "deadline", why);
            child.signal(SIGKILL);
            wait_exit(child, clock::now() + std::chrono::seconds(60), status);
            failure = why + "; killed";
            return Watch::exited;
        }
        pollfd fds[3] = {{wake_fd_, POLLIN, 0}, {child.pidfd(), POLLIN, 0}, {child.status_fd(), POLLIN, 0}};
        const int r = ::poll(fds, child.status_fd() >= 0 ? 3 : 2, ready ? -1 : poll_timeout(deadline));
        if (r < 0) continue; // EINTR
        if (fds[0].revents) {
            uint64_t v;
            const ssize_t n = ::read(wake_fd_, &v, sizeof v);
            (void)n;
        }
        if (child.status_fd() >= 0 && fds[2].revents) drain_status(child);
    }
}

StopReport RunnerSupervisor::stop_chain(ChildProcess &child) {
    const auto t0 = clock::now();
    set_phase(RunnerPhase::stopping, "pid " + std::to_string(child.pid()));
    StopReport report;
    const bool sent = child.send_control("shutdown\n");
    if (options_.request_graceful_stop) options_.request_graceful_stop();
    recorder_.record("stop", "graceful", sent ? "shutdown requested" : "control channel closed");
    if (wait_exit(child, t0 + options_.graceful_timeout, report.exit)) {
        report.method = StopMethod::graceful;
    } else {
        recorder_.record("stop", "sigterm", "no exit within " + seconds_text(options_.graceful_timeout));
        child.signal(SIGTERM);
        if (wait_exit(child, clock::now() + options_.term_timeout, report.exit)) {
            report.method = StopMethod::sigterm;
        } else {
            recorder_.record("stop", "sigkill", "no exit within " + seconds_text(options_.term_timeout) + " of SIGTERM");
            child.signal(SIGKILL);
            // SIGKILL cannot be refused; only a task stuck in the kernel (D state) delays it.
            while (!wait_exit(child, clock::now() + std::chrono::seconds(10), report.exit))
                log::get("supervisor")->error("{}: pid {} survives SIGKILL (stuck in the kernel?)", options_.name, child.pid());
            report.method = StopMethod::sigkill;
        }
    }
    report.took = std::chrono::duration_cast<milliseconds>(clock::now() - t0);
    recorder_.record("exit", "stopped", std::string(to_string(report.method)) + ", " + report.exit.describe());
    return report;
}

bool RunnerSupervisor::sleep_interruptibly(milliseconds d) {
    const auto deadline = clock::now() + d;
    while (!stop_requested_) {
        if (clock::now() >= deadline) return true;
        pollfd fd{wake_fd_, POLLIN, 0};
        if (::poll(&fd, 1, poll_timeout(deadline)) > 0) {
            uint64_t v;
            const ssize_t n = ::read(wake_fd_, &v, sizeof v);
            (void)n;
        }
    }
    return false;
}

void RunnerSupervisor::run() {
    for (;;) {
        if (stop_requested_) {
            set_phase(RunnerPhase::stopped, "stop requested");
            return;
        }
        std::optional<ChildProcess> child;
        std::string failure;
        ExitStatus status;
        ready_reported_ = false;
        status_buffer_.clear();
        try {
            child.emplace(ChildProcess::spawn(options_.spawn));
        } catch (const std::exception &e) {
            failure = std::string("cannot start the runner: ") + e.what();
        }
        if (child) {
            {
                std::lock_guard lock(mutex_);
                pid_ = child->pid();
                ++spawns_;
                current_ = &*child;
            }
            recorder_.record("spawn", "started", "pid " + std::to_string(child->pid()) + " " + options_.spawn.executable);
            set_phase(RunnerPhase::starting, "pid " + std::to_string(child->pid()));
            const Watch w = watch(*child, status, failure);
            if (w == Watch::stop_requested) {
                StopReport report = stop_chain(*child);
                {
                    std::lock_guard lock(mutex_);
                    current_ = nullptr;
                    pid_ = -1;
                    stop_report_ = report;
                }
                set_phase(RunnerPhase::stopped, std::string(to_string(report.method)) + " in " +
                                                    std::to_string(report.took.count()) + " ms");
                return;
            }
            std::lock_guard lock(mutex_);
            current_ = nullptr;
            pid_ = -1;
        }
        recorder_.record("exit", "failure", failure);
        const bool refused = child && !status.signaled && options_.final_exit_code >= 0 && status.code == options_.final_exit_code;
        if (refused || breaker_.record_failure(clock::now())) {
            const std::string reason =
                refused                        ? "the runner refused its work; not restarted: " + failure
                : breaker_.max_failures() == 1 ? "the runner failed and is not restarted: " + failure
                                               : std::to_string(breaker_.max_failures()) + " failures within " +
                                                     seconds_text(breaker_.window()) + "; gave up. Last: " + failure;
            recorder_.record("breaker", "gave_up", reason);
            {
                std::lock_guard lock(mutex_);
                give_up_reason_ = reason;
            }
            set_phase(RunnerPhase::gave_up, reason);
            return;
        }
        set_phase(RunnerPhase::restarting, failure);
        recorder_.record("restart", "scheduled", "in " + seconds_text(options_.restart_delay));
        if (!sleep_interruptibly(options_.restart_delay)) {
            set_phase(RunnerPhase::stopped, "stop requested while restarting");
            return;
        }
    }
}

} // namespace skulk::worker
