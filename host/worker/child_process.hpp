// One child process started with fork/exec, watched through a pidfd (no
// pid-reuse races when signalling, pollable exit), with two channels:
//   - control: the child's stdin, a socket the parent writes lines to
//     ("shutdown\n"); a socket so that writing to a dead child is EPIPE,
//     never SIGPIPE;
//   - status: a pipe on the child's fd 3 (SKULK_STATUS_FD=3) the child
//     writes lines to ("ready", "<phase> <detail>").
// The child gets PR_SET_PDEATHSIG(SIGKILL): it dies with the thread that
// forked it, so fork from a thread that outlives the child.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace skulk::worker {

struct SpawnSpec {
    std::string executable;             // a path (no PATH lookup)
    std::vector<std::string> args;      // argv[1..]
    std::vector<std::string> env;       // KEY=VALUE added to (and overriding) the parent's environment
};

// How a child ended.
struct ExitStatus {
    bool signaled = false;
    int code = 0;   // exit code, or the signal number when signaled
    std::string describe() const; // "exit code 3", "killed by SIGSEGV (11)"
};

class ChildProcess {
public:
    // Throws std::system_error when the process cannot be created. An exec
    // failure shows up as exit code 127 (the message goes to stderr).
    static ChildProcess spawn(const SpawnSpec &spec);

    ChildProcess(ChildProcess &&other) noexcept;
    ChildProcess &operator=(ChildProcess &&other) noexcept;
    ChildProcess(const ChildProcess &) = delete;
    ChildProcess &operator=(const ChildProcess &) = delete;
    // SIGKILLs and reaps a child that is still running: never a zombie.
    ~ChildProcess();

    pid_t pid() const { return pid_; }
    int pidfd() const { return pidfd_; }         // readable once the child has exited
    int status_fd() const { return status_fd_; } // -1 after close_status()
    void close_status();

    bool signal(int sig) const;                  // false when it has already exited
    bool send_control(std::string_view line) const; // false when the child is gone
    // Reaps the child if it has exited (non-blocking); the status, once.
    std::optional<ExitStatus> try_reap();
    bool reaped() const { return reaped_; }

private:
    ChildProcess() = default;
    void release() noexcept;

    pid_t pid_ = -1;
    int pidfd_ = -1;
    int control_fd_ = -1;
    int status_fd_ = -1;
    bool reaped_ = false;
};

} // namespace skulk::worker
