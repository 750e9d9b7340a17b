#include "worker/child_process.hpp"

#include "common/child_setup.hpp"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <poll.h>
// glibc 2.36 declares these without extern "C".
extern "C" {
#include <sys/pidfd.h>
}
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <system_error>
#include <unistd.h>

extern char **environ;

namespace skulk::worker {
namespace {

[[noreturn]] void throw_errno(const char *what) { throw std::system_error(errno, std::generic_category(), what); }

void close_fd(int &fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
}

} // namespace

std::string ExitStatus::describe() const {
    if (!signaled) return "exit code " + std::to_string(code);
    const char *name = sigabbrev_np(code);
    return std::string("killed by ") + (name ? std::string("SIG") + name : std::string("signal")) + " (" +
           std::to_string(code) + ")";
}

ChildProcess ChildProcess::spawn(const SpawnSpec &spec) {
    // Everything the child needs is prepared before fork.
    std::map<std::string, std::string> env_map;
    for (char **e = environ; e && *e; ++e) {
        std::string_view kv(*e);
        const auto eq = kv.find('=');
        if (eq != std::string_view::npos) env_map[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
    }
    for (const auto &kv : spec.env) {
        const auto eq = kv.find('=');
        if (eq == std::string::npos) throw std::invalid_argument("SpawnSpec.env entry without '=': " + kv);
        env_map[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    env_map["SKULK_STATUS_FD"] = "3";
    std::vector<std::string> env_strings;
    for (const auto &[k, v] : env_map) env_strings.push_back(k + "=" + v);
    std::vector<char *> envp;
    for (auto &s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> argv_strings{spec.executable};
    argv_strings.insert(argv_strings.end(), spec.args.begin(), spec.args.end());
    std::vector<char *> argv;
    for (auto &s : argv_strings) argv.push_back(s.data());
    argv.push_back(nullptr);

    int control[2] = {-1, -1};
    int status[2] = {-1, -1};
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, control) != 0) throw_errno("socketpair");
    if (::pipe2(status, O_CLOEXEC) != 0) {
        ::close(control[0]);
        ::close(control[1]);
        throw_errno("pipe2");
    }
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
        const int err = errno;
        for (int fd : {control[0], control[1], status[0], status[1]}) ::close(fd);
        throw std::system_error(err, std::generic_category(), "fork");
    }
    if (pid == 0) {
        become_child_of(parent);
        if (::dup2(control[1], 0) < 0 || ::dup2(status[1], 3) < 0) child_fail("skulk: dup2 failed\n");
        // Every other descriptor of the daemon (sockets, other runners' pipes) stays out.
        ::close_range(4, ~0U, 0);
        ::execve(argv[0], argv.data(), envp.data());
        child_fail("skulk: execve of the runner failed\n");
    }
    ::close(control[1]);
    ::close(status[1]);
    ChildProcess c;
    c.pid_ = pid;
    c.control_fd_ = control[0];
    c.status_fd_ = status[0];
    c.pidfd_ = ::pidfd_open(pid, 0);
    if (c.pidfd_ < 0) {
        const int err = errno;
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        c.reaped_ = true;
        throw std::system_error(err, std::generic_category(), "pidfd_open");
    }
    ::fcntl(c.pidfd_, F_SETFD, FD_CLOEXEC);
    // The supervisor drains the status pipe until EAGAIN after the child exits.
    ::fcntl(c.status_fd_, F_SETFL, ::fcntl(c.status_fd_, F_GETFL) | O_NONBLOCK);
    return c;
}

ChildProcess::ChildProcess(ChildProcess &&o) noexcept { *this = std::move(o); }

ChildProcess &ChildProcess::operator=(ChildProcess &&o) noexcept {
    if (this != &o) {
        release();
        pid_ = o.pid_;
        pidfd_ = o.pidfd_;
        control_fd_ = o.control_fd_;
        status_fd_ = o.status_fd_;
        reaped_ = o.reaped_;
        o.pid_ = -1;
        o.pidfd_ = o.control_fd_ = o.status_fd_ = -1;
        o.reaped_ = true;
    }
    return *this;
}

ChildProcess::~ChildProcess() { release(); }

void ChildProcess::release() noexcept {
    if (pid_ > 0 && !reaped_) {
        if (pidfd_ >= 0) ::pidfd_send_signal(pidfd_, SIGKILL, nullptr, 0);
        else ::kill(pid_, SIGKILL);
        while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
        }
        reaped_ = true;
    }
    close_fd(pidfd_);
    close_fd(control_fd_);
    close_fd(status_fd_);
    pid_ = -1;
}

void ChildProcess::close_status() { close_fd(status_fd_); }

bool ChildProcess::signal(int sig) const {
    if (reaped_ || pidfd_ < 0) return false;
    return ::pidfd_send_signal(pidfd_, sig, nullptr, 0) == 0;
}

bool ChildProcess::send_control(std::string_view line) const {
    if (control_fd_ < 0 || reaped_) return false;
    size_t done = 0;
    while (done < line.size()) {
        const ssize_t n = ::send(control_fd_, line.data() + done, line.size() - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        done += size_t(n);
    }
    return true;
}

std::optional<ExitStatus> ChildProcess::try_reap() {
    if (reaped_ || pid_ <= 0) return std::nullopt;
    int wstatus = 0;
    pid_t r;
    do {
        r = ::waitpid(pid_, &wstatus, WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == 0) return std::nullopt;
    reaped_ = true;
    ExitStatus st;
    if (r < 0) { // someone else reaped it (a waitpid(-1) elsewhere): the status is lost
        st.code = -1;
        return st;
    }
    if (WIFSIGNALED(wstatus)) {
        st.signaled = true;
        st.code = WTERMSIG(wstatus);
    } else {
        st.code = WEXITSTATUS(wstatus);
    }
    return st;
}

} // namespace skulk::worker
