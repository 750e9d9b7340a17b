#include "log/vector_shipper.hpp"

#include "common/child_setup.hpp"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <poll.h>
#include <sstream>
extern "C" {
#include <sys/pidfd.h>
}
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

namespace skulk::log {
namespace {

// Waits up to `timeout` for the child behind pidfd to exit.
bool wait_exit(int pidfd, std::chrono::milliseconds timeout) {
    pollfd p{pidfd, POLLIN, 0};
    int r;
    do {
        r = ::poll(&p, 1, int(timeout.count()));
    } while (r < 0 && errno == EINTR);
    return r > 0;
}

std::string describe(int wstatus) {
    if (WIFSIGNALED(wstatus)) return "killed by signal " + std::to_string(WTERMSIG(wstatus));
    return "exit code " + std::to_string(WEXITSTATUS(wstatus));
}

} // namespace

std::filesystem::path find_on_path(const std::string &name) {
    const char *path = std::getenv("PATH");
    std::stringstream ss(path ? path : "/usr/local/bin:/usr/bin:/bin");
    for (std::string dir; std::getline(ss, dir, ':');) {
        if (dir.empty()) continue;
        const auto candidate = std::filesystem::path(dir) / name;
        std::error_code ec;
        if (std::filesystem::is_regular_file(candidate, ec) && ::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    return {};
}

VectorShipper::VectorShipper(ShipperOptions options) : options_(std::move(options)) {
    if (!options_.note) options_.note = [](spdlog::level::level_enum, const std::string &) {};
}

VectorShipper::~VectorShipper() { stop(); }

void VectorShipper::start() {
    if (thread_.joinable()) return;
    if (::pipe2(stop_pipe_, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
    thread_ = std::thread([this] { monitor(); });
}

void VectorShipper::stop() {
    if (!thread_.joinable()) return;
    stopping_ = true;
    const char c = 's';
    const ssize_t n = ::write(stop_pipe_[1], &c, 1);
    (void)n;
    thread_.join();
    for (int &fd : stop_pipe_) {
        ::close(fd);
        fd = -1;
    }
}

bool VectorShipper::wait_stop(std::chrono::milliseconds timeout) {
    pollfd p{stop_pipe_[0], POLLIN, 0};
    int r;
    do {
        r = ::poll(&p, 1, int(timeout.count()));
    } while (r < 0 && errno == EINTR);
    return r > 0 || stopping_;
}

void VectorShipper::set_pipe(int fd) {
    std::lock_guard lk(write_mutex_);
    if (write_fd_ >= 0) ::close(write_fd_);
    write_fd_ = fd;
    pending_.clear();
}

bool VectorShipper::spawn(int &pidfd, pid_t &pid) {
    // Everything the child needs is built before fork: only async-signal-safe calls after it.
    std::map<std::string, std::string> env_map;
    for (char **e = environ; e && *e; ++e) {
        std::string_view kv(*e);
        if (const auto eq = kv.find('='); eq != std::string_view::npos)
            env_map[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
    }
    for (const auto &kv : options_.env)
        if (const auto eq = kv.find('='); eq != std::string::npos) env_map[kv.substr(0, eq)] = kv.substr(eq + 1);
    std::vector<std::string> env_strings, argv_strings{options_.executable.string()};
    for (const auto &[k, v] : env_map) env_strings.push_back(k + "=" + v);
    argv_strings.insert(argv_strings.end(), options_.args.begin(), options_.args.end());
    std::vector<char *> envp, argv;
    for (auto &s : env_strings) envp.push_back(s.data());
    for (auto &s : argv_strings) argv.push_back(s.data());
    envp.push_back(nullptr);
    argv.push_back(nullptr);

    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) {
        options_.note(spdlog::level::warn, std::string("log shipper: pipe2: ") + std::strerror(errno));
        return false;
    }
    ::fcntl(p[1], F_SETPIPE_SZ, int(options_.pipe_bytes)); // best effort: the kernel caps it
    const pid_t parent = ::getpid();
    pid = ::fork();
    if (pid < 0) {
        options_.note(spdlog::level::warn, std::string("log shipper: fork: ") + std::strerror(errno));
        ::close(p[0]);
        ::close(p[1]);
        return false;
    }
    if (pid == 0) {
        become_child_of(parent);
        if (::dup2(p[0], 0) < 0) child_fail("skulk: dup2 failed\n");
        ::close_range(3, ~0U, 0);
        ::execve(argv[0], argv.data(), envp.data());
        child_fail("skulk: execve of the log shipper failed\n");
    }
    ::close(p[0]);
    ::fcntl(p[1], F_SETFL, ::fcntl(p[1], F_GETFL) | O_NONBLOCK);
    pidfd = ::pidfd_open(pid, 0);
    if (pidfd < 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        ::close(p[1]);
        return false;
    }
    ::fcntl(pidfd, F_SETFD, FD_CLOEXEC);
    set_pipe(p[1]);
    starts_.fetch_add(1, std::memory_order_relaxed);
    return true;
}

// graceful: EOF first (Vector flushes to its disk buffer and exits), then signals.
void VectorShipper::end_child(int pidfd, pid_t pid, bool graceful) {
    set_pipe(-1);
    if (!graceful || !wait_exit(pidfd, std::chrono::milliseconds(2000))) {
        ::pidfd_send_signal(pidfd, SIGTERM, nullptr, 0);
        if (!wait_exit(pidfd, std::chrono::milliseconds(2000))) ::pidfd_send_signal(pidfd, SIGKILL, nullptr, 0);
    }
    int wstatus = 0;
    while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
    }
    ::close(pidfd);
}

void VectorShipper::monitor() {
    auto backoff = options_.backoff_min;
    while (!stopping_) {
        int pidfd = -1;
        pid_t pid = -1;
        if (spawn(pidfd, pid)) {
            options_.note(spdlog::level::info, "log shipper " + options_.executable.string() + " started (pid " + std::to_string(pid) + ")");
            const auto started = std::chrono::steady_clock::now();
            pollfd fds[2] = {{pidfd, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
            while (::poll(fds, 2, -1) < 0 && errno == EINTR) {
            }
            if (stopping_ || (fds[1].revents & POLLIN)) {
                end_child(pidfd, pid, true);
                return;
            }
            set_pipe(-1);
            int wstatus = 0;
            while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
            }
            ::close(pidfd);
            if (std::chrono::steady_clock::now() - started > std::chrono::minutes(1)) backoff = options_.backoff_min;
            options_.note(spdlog::level::warn, "log shipper exited (" + describe(wstatus) + "); restarting in " +
                                                   std::to_string(backoff.count()) + " ms");
        } else {
            options_.note(spdlog::level::warn, "log shipper could not start; retrying in " + std::to_string(backoff.count()) + " ms");
        }
        if (wait_stop(backoff)) return;
        backoff = std::min(backoff * 2, options_.backoff_max);
    }
}

bool VectorShipper::write_line(std::string_view line) {
    std::lock_guard lk(write_mutex_);
    auto drop = [&] {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        return false;
    };
    if (write_fd_ < 0) return drop();
    // Finish a long line that went out in part before starting another.
    if (!pending_.empty()) {
        const ssize_t n = ::write(write_fd_, pending_.data(), pending_.size());
        if (n > 0) pending_.erase(0, size_t(n));
        if (!pending_.empty()) return drop();
    }
    // A line up to PIPE_BUF goes in whole or not at all (EAGAIN); a longer one may go in part.
    const ssize_t n = ::write(write_fd_, line.data(), line.size());
    if (n < 0) return drop(); // EAGAIN: full; EPIPE: the child is gone (the monitor restarts it)
    if (size_t(n) < line.size()) pending_.assign(line.substr(size_t(n)));
    return true;
}

void ShipperSink::sink_it_(const spdlog::details::log_msg &msg) {
    spdlog::memory_buf_t line;
    formatter_->format(msg, line);
    shipper_->write_line(std::string_view(line.data(), line.size()));
}

} // namespace skulk::log
