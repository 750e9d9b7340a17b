#include "plugin/probe.hpp"

#include "plugin/library.hpp"
#include "plugin/record_json.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace skulk::plugin {
namespace {

std::string dump_line(const nlohmann::json &j) {
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

// The child: no spdlog, no locks that another thread of the parent may have
// held at fork() time; one line of JSON per event to the pipe, then _exit().
[[noreturn]] void run_child(const std::filesystem::path &path, int fd) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL); // never outlive the daemon
    rlimit no_core{0, 0};
    ::setrlimit(RLIMIT_CORE, &no_core); // a deliberate crash is not a core dump
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr); // the daemon blocks SIGINT/SIGTERM
    for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGINT, SIGTERM, SIGPIPE}) std::signal(sig, SIG_DFL);
    int code = 0;
    try {
        PluginRecord record;
        auto stage = [fd](const char *s) { write_all(fd, dump_line({{"stage", s}})); };
        auto lib = Library::open(path, std::make_shared<HostServices>(), record, stage, fd);
        write_all(fd, dump_line({{"result", record_to_json(record)}}));
        // `lib` is deliberately not released: no shutdown()/dlclose() here.
        static_cast<void>(new std::shared_ptr<Library>(std::move(lib)));
    } catch (...) {
        code = 3; // the parent reports "no verdict"
    }
    ::_exit(code);
}

std::string signal_text(int sig) {
    const char *abbrev = ::sigabbrev_np(sig);
    return abbrev ? fmt::format("signal {}, SIG{}", sig, abbrev) : fmt::format("signal {}", sig);
}

} // namespace

PluginRecord probe_in_child(const std::filesystem::path &path, std::chrono::milliseconds timeout,
                            const ProbeLogFn &on_log) {
    PluginRecord failed;
    failed.path = path;
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        failed.refused_reason = std::string("cannot probe: pipe2: ") + std::strerror(errno);
        return failed;
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
        failed.refused_reason = std::string("cannot probe: fork: ") + std::strerror(errno);
        ::close(fds[0]);
        ::close(fds[1]);
        return failed;
    }
    if (pid == 0) {
        ::close(fds[0]);
        run_child(path, fds[1]);
    }
    ::close(fds[1]);

    std::string stage = "start", pending;
    std::optional<PluginRecord> verdict;
    auto handle_line = [&](std::string_view line) {
        const auto j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_discarded() || !j.is_object()) return;
        if (auto it = j.find("stage"); it != j.end() && it->is_string()) stage = it->get<std::string>();
        if (auto it = j.find("log"); it != j.end() && it->is_number_integer() && on_log)
            on_log(it->get<int>(), j.value("msg", std::string()));
        if (auto it = j.find("result"); it != j.end()) {
            try {
                verdict = record_from_json(*it);
                verdict->path = path;
            } catch (const std::exception &) {
                verdict.reset();
            }
        }
    };
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    bool timed_out = false;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            timed_out = true;
            break;
        }
        pollfd p{fds[0], POLLIN, 0};
        const int r = ::poll(&p, 1, int(left.count()));
        if (r < 0 && errno != EINTR) break;
        if (r <= 0) continue;
        char buf[4096];
        const ssize_t n = ::read(fds[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break; // EOF: the child has exited (or closed the pipe)
        pending.append(buf, size_t(n));
        for (size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
            handle_line(std::string_view(pending).substr(0, nl));
            pending.erase(0, nl + 1);
        }
    }
    ::close(fds[0]);
    // EOF normally means the child has exited, but a plugin could close the
    // pipe and carry on: reap with the same deadline, polling.
    int status = 0;
    for (;;) {
        if (timed_out) ::kill(pid, SIGKILL);
        const pid_t r = ::waitpid(pid, &status, timed_out ? 0 : WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR)) break;
        if (r == 0 && std::chrono::steady_clock::now() >= deadline) timed_out = true;
        else if (r == 0) ::poll(nullptr, 0, 5);
    }

    if (timed_out) {
        failed.refused_reason = fmt::format("timed out in {} after {} ms (probe process killed)", stage, timeout.count());
    } else if (WIFSIGNALED(status)) {
        failed.refused_reason = fmt::format("crashed in {} ({})", stage, signal_text(WTERMSIG(status)));
    } else if (verdict) {
        return *verdict;
    } else {
        failed.refused_reason =
            fmt::format("probe process exited with code {} in {} without a verdict", WEXITSTATUS(status), stage);
    }
    if (verdict) { // what the child learnt before it died still helps the listing
        failed.kind = verdict->kind;
        failed.name = verdict->name;
        failed.version = verdict->version;
    }
    return failed;
}

} // namespace skulk::plugin
