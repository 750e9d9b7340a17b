// The parent-side lifecycle of one runner child process (DESIGN.md section
// 2): spawn, warmup deadline, restart on crash, crash-loop breaker, the stop
// chain (graceful -> SIGTERM -> SIGKILL, each with a deadline), and a flight
// recorder of the last 128 lifecycle entries.
//
// One monitor thread per supervisor forks the child (so PR_SET_PDEATHSIG,
// which fires when the forking THREAD exits, lasts exactly as long as the
// supervision) and polls the child's pidfd, its status pipe and a wake-up
// eventfd; it reaps every child it started, so there are no zombies. Nothing
// else in the process may waitpid(-1).
//
// Runner protocol (child side, see child_process.hpp): lines on fd 3
// ("ready" once loaded and warmed up; any other line "<phase> <detail>" is
// recorded in the flight recorder); "shutdown\n" on stdin asks for a
// graceful exit. An owner with a richer channel (the worker's ZeroMQ IPC)
// may instead call report_ready() and pass request_graceful_stop.
#pragma once

#include "worker/child_process.hpp"
#include "worker/crash_window.hpp"
#include "worker/flight_recorder.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace skulk::worker {

enum class RunnerPhase {
    idle,       // not started
    starting,   // spawned, not Ready yet (loading / warming up)
    ready,      // reported Ready
    restarting, // the last child failed; a new one comes after restart_delay
    stopping,   // the stop chain runs
    stopped,    // stopped on request
    gave_up     // the crash-loop breaker tripped; see give_up_reason()
};
const char *to_string(RunnerPhase phase);

// SKULK_WARMUP_DEADLINE_SECONDS (a positive number), else 300 s.
std::chrono::milliseconds warmup_deadline_from_env();

struct SupervisorOptions {
    std::string name = "runner"; // for logs
    SpawnSpec spawn;
    std::chrono::milliseconds warmup_deadline = warmup_deadline_from_env();
    std::chrono::milliseconds graceful_timeout = std::chrono::seconds(5); // after the graceful request
    std::chrono::milliseconds term_timeout = std::chrono::seconds(5);     // after SIGTERM
    std::chrono::milliseconds restart_delay = std::chrono::milliseconds(200);
    int max_failures = 3; // 1: never restarted (a pipeline rank cannot rejoin its peers' KV state)
    // A child exiting with this code is given up at once: it refused its
    // work and would refuse again (the runner's "does not fit", exit 3).
    int final_exit_code = -1;
    std::chrono::milliseconds failure_window = std::chrono::seconds(60);
    // Called (on the monitor thread) to ask the runner to exit; in addition
    // to "shutdown\n" on its stdin.
    std::function<void()> request_graceful_stop;
    // Called (on the monitor thread) on every phase change, with a detail.
    // It must not call stop() (that joins the monitor thread itself).
    std::function<void(RunnerPhase, const std::string &)> on_phase;
    // Called (on the monitor thread) for every fd-3 line other than "ready":
    // the runner's own phase ("loading", "warming_up", "failed") and detail.
    std::function<void(const std::string &phase, const std::string &detail)> on_report;
};

// How stop() ended the child.
enum class StopMethod { not_running, graceful, sigterm, sigkill };
const char *to_string(StopMethod method);

struct StopReport {
    StopMethod method = StopMethod::not_running;
    std::chrono::milliseconds took{0};
    ExitStatus exit;
};

class RunnerSupervisor {
public:
    explicit RunnerSupervisor(SupervisorOptions options);
    ~RunnerSupervisor(); // stop()
    RunnerSupervisor(const RunnerSupervisor &) = delete;
    RunnerSupervisor &operator=(const RunnerSupervisor &) = delete;

    void start();
    // Runs the stop chain and joins the monitor. Idempotent.
    StopReport stop();

    // The owner heard Ready through its own channel.
    void report_ready();
    // A line to the current child's stdin; false when there is no child.
    bool send_control(std::string_view line);

    RunnerPhase phase() const;
    // Blocks until phase() == target or the timeout passes.
    bool wait_for_phase(RunnerPhase target, std::chrono::milliseconds timeout) const;
    std::string give_up_reason() const;
    pid_t pid() const;        // the current child, or -1
    int spawn_count() const;  // children started so far
    std::vector<FlightEntry> flight_record() const { return recorder_.entries(); }

private:
    enum class Watch { exited, stop_requested };
    void run();
    Watch watch(ChildProcess &child, ExitStatus &status, std::string &failure);
    StopReport stop_chain(ChildProcess &child);
    bool wait_exit(ChildProcess &child, std::chrono::steady_clock::time_point deadline, ExitStatus &status);
    void drain_status(ChildProcess &child);
    bool sleep_interruptibly(std::chrono::milliseconds d);
    void set_phase(RunnerPhase p, const std::string &detail);
    void wake();

    SupervisorOptions options_;
    FlightRecorder recorder_;
    CrashWindow breaker_;
    std::thread monitor_;
    int wake_fd_ = -1;
    std::atomic<bool> stop_requested_{false};
    std::atomic<bool> ready_reported_{false};
    std::string status_buffer_; // a partial status line

    mutable std::mutex mutex_;
    mutable std::condition_variable phase_changed_;
    RunnerPhase phase_ = RunnerPhase::idle;
    std::string give_up_reason_;
    pid_t pid_ = -1;
    int spawns_ = 0;
    ChildProcess *current_ = nullptr; // guarded by mutex_, for send_control
    StopReport stop_report_;
    std::mutex stop_mutex_; // serialises stop() callers
};

} // namespace skulk::worker
