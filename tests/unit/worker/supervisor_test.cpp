// The runner supervisor against a real child process (fake_runner) on every
// lifecycle path: graceful stop, SIGTERM and SIGKILL escalation with
// measured deadlines, crash -> restart, the crash-loop breaker, the warmup
// deadline, parent death, and the flight recorder.
#include "worker/supervisor.hpp"

#include <gtest/gtest.h>

#include <mutex>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace skulk::worker;
using namespace std::chrono_literals;
using std::chrono::milliseconds;

namespace {

std::string fake_runner() {
    return SKULK_FAKE_RUNNER_PATH;
}

SupervisorOptions options(std::vector<std::string> args) {
    SupervisorOptions o;
    o.name = "test-runner";
    o.spawn.executable = fake_runner();
    o.spawn.args = std::move(args);
    o.warmup_deadline = 30s;
    o.graceful_timeout = 5s;
    o.term_timeout = 5s;
    o.restart_delay = 50ms;
    return o;
}

// Polls a condition with a deadline (no fixed sleeps as synchronisation).
template <class Pred>
bool eventually(Pred pred, milliseconds timeout = 20s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (pred()) return true;
        std::this_thread::sleep_for(5ms);
    }
    return pred();
}

bool has_entry(const std::vector<FlightEntry> &rec, const std::string &phase, const std::string &event,
               const std::string &detail_part = {}) {
    for (const auto &e : rec)
        if (e.phase == phase && e.event == event && e.detail.find(detail_part) != std::string::npos) return true;
    return false;
}

const FlightEntry *find_entry(const std::vector<FlightEntry> &rec, const std::string &phase, const std::string &event) {
    for (const auto &e : rec)
        if (e.phase == phase && e.event == event) return &e;
    return nullptr;
}

// No child of this test process is left unreaped.
void expect_no_children() {
    int st = 0;
    errno = 0;
    EXPECT_EQ(::waitpid(-1, &st, WNOHANG), -1);
    EXPECT_EQ(errno, ECHILD);
}

} // namespace

TEST(Supervisor, GracefulStop) {
    std::atomic<int> graceful_requests{0};
    auto o = options({"--ready-after", "20"});
    o.request_graceful_stop = [&] { ++graceful_requests; };
    std::vector<RunnerPhase> phases;
    std::mutex m;
    o.on_phase = [&](RunnerPhase p, const std::string &) {
        std::lock_guard lock(m);
        phases.push_back(p);
    };
    RunnerSupervisor sup(o);
    EXPECT_EQ(sup.phase(), RunnerPhase::idle);
    sup.start();
    ASSERT_TRUE(sup.wait_for_phase(RunnerPhase::ready, 20s)) << to_string(sup.phase());
    const pid_t pid = sup.pid();
    ASSERT_GT(pid, 0);
    EXPECT_EQ(::kill(pid, 0), 0) << "the runner is alive";
    const StopReport r = sup.stop();
    EXPECT_EQ(r.method, StopMethod::graceful);
    EXPECT_FALSE(r.exit.signaled);
    EXPECT_EQ(r.exit.code, 0);
    EXPECT_LT(r.took, o.graceful_timeout);
    EXPECT_EQ(graceful_requests.load(), 1);
    EXPECT_EQ(sup.phase(), RunnerPhase::stopped);
    EXPECT_EQ(sup.pid(), -1);
    const auto rec = sup.flight_record();
    EXPECT_TRUE(has_entry(rec, "spawn", "started", "pid " + std::to_string(pid)));
    EXPECT_TRUE(has_entry(rec, "loading", "reported", "weights 0/5")) << "status lines from the runner are recorded";
    EXPECT_TRUE(has_entry(rec, "ready", "reported"));
    EXPECT_TRUE(has_entry(rec, "stopping", "reported", "graceful")) << "the runner's last words are drained";
    EXPECT_TRUE(has_entry(rec, "exit", "stopped", "graceful"));
    {
        std::lock_guard lock(m);
        EXPECT_EQ(phases, (std::vector<RunnerPhase>{RunnerPhase::starting, RunnerPhase::ready, RunnerPhase::stopping,
                                                    RunnerPhase::stopped}));
    }
    expect_no_children();
    EXPECT_EQ(sup.stop().method, StopMethod::graceful) << "stop() is idempotent";
}

TEST(Supervisor, SigtermAfterTheGracefulDeadline) {
    auto o = options({"--ignore-shutdown"});
    o.graceful_timeout = 400ms;
    RunnerSupervisor sup(o);
    sup.start();
    ASSERT_TRUE(sup.wait_for_phase(RunnerPhase::ready, 20s));
    const StopReport r = sup.stop();
    EXPECT_EQ(r.method, StopMethod::sigterm);
    EXPECT_TRUE(r.exit.signaled);
    EXPECT_EQ(r.exit.code, SIGTERM);
    EXPECT_GE(r.took, 400ms);
    EXPECT_LT(r.took, 400ms + 3s);
    EXPECT_TRUE(has_entry(sup.flight_record(), "stop", "sigterm"));
    expect_no_children();
}

TEST(Supervisor, SigkillWhenSigtermIsIgnored) {
    auto o = options({"--ignore-shutdown", "--ignore-term"});
    o.graceful_timeout = 300ms;
    o.term_timeout = 300ms;
    RunnerSupervisor sup(o);
    sup.start();
    ASSERT_TRUE(sup.wait_for_phase(RunnerPhase::ready, 20s));
    const StopReport r = sup.stop();
    EXPECT_EQ(r.method, StopMethod::sigkill);
    EXPECT_TRUE(r.exit.signaled);
    EXPECT_EQ(r.exit.code, SIGKILL);
    EXPECT_GE(r.took, 600ms);
    EXPECT_LT(r.took, 600ms + 3s);
    const auto rec = sup.flight_record();
    const FlightEntry *term = find_entry(rec, "stop", "sigterm");
    const FlightEntry *kill = find_entry(rec, "stop", "sigkill");
    ASSERT_TRUE(term && kill);
    // The measured gap between the two steps is the SIGTERM deadline.
    EXPECT_GE(kill->at - term->at, 300ms - 5ms);
    expect_no_children();
}

TEST(Supervisor, CrashIsRestarted) {
    const auto marker = std::filesystem::temp_directory_path() / ("skulk-crash-once-" + std::to_string(::getpid()));
    std::filesystem::remove(marker);
    RunnerSupervisor sup(options({"--crash-once", marker.string()}));
    sup.start();
    ASSERT_TRUE(eventually([&] { return sup.spawn_count() == 2 && sup.phase() == RunnerPhase::ready; }))
        << "spawns " << sup.spawn_count() << ", phase " << to_string(sup.phase());
    const auto rec = sup.flight_record();
    EXPECT_TRUE(has_entry(rec, "exit", "failure", "SIGSEGV"));
    EXPECT_TRUE(has_entry(rec, "restart", "scheduled"));
    EXPECT_TRUE(sup.give_up_reason().empty());
    EXPECT_EQ(sup.stop().method, StopMethod::graceful);
    expect_no_children();
    std::filesystem::remove(marker);
}

TEST(Supervisor, ThreeCrashesInAMinuteGiveUp) {
    RunnerSupervisor sup(options({"--crash-after", "0"}));
    sup.start();
    ASSERT_TRUE(sup.wait_for_phase(RunnerPhase::gave_up, 30s)) << to_string(sup.phase());
    EXPECT_EQ(sup.spawn_count(), 3);
    const std::string reason = sup.give_up_reason();
    EXPECT_NE(reason.find("3 failures within 60 s"), std::string::npos) << reason;
    EXPECT_NE(reason.find("SIGSEGV"), std::string::npos) << reason;
    EXPECT_TRUE(has_entry(sup.flight_record(), "breaker", "gave_up"));
    expect_no_children();
    EXPECT_EQ(sup.stop().method, StopMethod::not_running);
    EXPECT_EQ(sup.phase(), RunnerPhase::gave_up) << "stop keeps the verdict";
}

TEST(Supervisor, FailuresOutsideTheWindowKeepRestarting) {
    auto o = options({"--exit-after", "0", "3"});
    o.failure_window = 100ms;
    o.restart_delay = 150ms; // every failure has left the window before the next one
    RunnerSupervisor sup(o);
    sup.start();
    ASSERT_TRUE(eventually([&] { return sup.spawn_count() >= 4; }));
    EXPECT_NE(sup.phase(), RunnerPhase::gave_up);
    EXPECT_TRUE(has_entry(sup.flight_record(), "exit", "failure", "exit code 3"));
    sup.stop();
    expect_no_children();
}

TEST(Supervisor, WarmupDeadlineKillsAndCountsAsFailure) {
    auto o = options({"--no-ready"});
    o.warmup_deadline = 300ms;
    o.max_failures = 2;
    RunnerSupervisor sup(o);
    sup.start();
    ASSERT_TRUE(sup.wait_for_phase(RunnerPhase::gave_up, 20s)) << to_string(sup.phase());
    EXPECT_EQ(sup.spawn_count(), 2);
    EXPECT_NE(sup.give_up_reason().find("warmup deadline"), std::string::npos) << sup.give_up_reason();
    const auto rec = sup.flight_record();
    const FlightEntry *spawned = find_entry(rec, "spawn", "started");
    const FlightEntry *deadline = find_entry(rec, "warmup", "deadline");
    ASSERT_TRUE(spawned && deadline);
    EXPECT_GE(deadline->at - spawned->at, 300ms - 5ms);
    EXPECT_LT(deadline->at - spawned->at, 300ms + 3s);
    expect_no_children();
}

TEST(Supervisor, ReadyThroughTheOwnersChannel) {
    auto o = options({"--no-ready"});
    o.graceful_timeout = 200ms;
    RunnerSupervisor sup(o);
    sup.start();
    ASSERT_TRUE(sup.wait_for_phase(RunnerPhase::starting, 20s));
    EXPECT_FALSE(sup.wait_for_phase(RunnerPhase::ready, 100ms));
    sup.report_ready();
    ASSERT_TRUE(sup.wait_for_phase(RunnerPhase::ready, 20s));
    // This runner does not read its stdin: the chain goes on to SIGTERM.
    EXPECT_EQ(sup.stop().method, StopMethod::sigterm);
    expect_no_children();
}

TEST(Supervisor, MissingExecutableIsAFailureNotACrashOfTheHost) {
    auto o = options({});
    o.spawn.executable = "/nonexistent/skulk-runner";
    o.restart_delay = 10ms;
    RunnerSupervisor sup(o);
    sup.start();
    ASSERT_TRUE(sup.wait_for_phase(RunnerPhase::gave_up, 20s));
    EXPECT_NE(sup.give_up_reason().find("exit code 127"), std::string::npos) << sup.give_up_reason();
    expect_no_children();
}

TEST(Supervisor, FlightRecorderKeepsTheLast128) {
    RunnerSupervisor sup(options({"--chatter", "500"}));
    sup.start();
    ASSERT_TRUE(sup.wait_for_phase(RunnerPhase::ready, 20s));
    const auto rec = sup.flight_record();
    ASSERT_EQ(rec.size(), 128u);
    EXPECT_EQ(rec.back().phase, "ready");
    // spawn + loading + 500 chatter + ready: the oldest kept is chatter #(500 - 127).
    EXPECT_EQ(rec.front().phase, "chatter");
    EXPECT_EQ(rec.front().detail, std::to_string(500 - 127));
    sup.stop();
}

TEST(Supervisor, WarmupDeadlineFromTheEnvironment) {
    ::unsetenv("SKULK_WARMUP_DEADLINE_SECONDS");
    EXPECT_EQ(warmup_deadline_from_env(), 300s);
    ::setenv("SKULK_WARMUP_DEADLINE_SECONDS", "2", 1);
    EXPECT_EQ(warmup_deadline_from_env(), 2s);
    ::setenv("SKULK_WARMUP_DEADLINE_SECONDS", "0.5", 1);
    EXPECT_EQ(warmup_deadline_from_env(), 500ms);
    ::setenv("SKULK_WARMUP_DEADLINE_SECONDS", "soon", 1);
    EXPECT_EQ(warmup_deadline_from_env(), 300s);
    ::setenv("SKULK_WARMUP_DEADLINE_SECONDS", "-1", 1);
    EXPECT_EQ(warmup_deadline_from_env(), 300s);
    ::unsetenv("SKULK_WARMUP_DEADLINE_SECONDS");
    EXPECT_EQ(SupervisorOptions{}.warmup_deadline, 300s);
}

// A daemon killed with SIGKILL runs no clean-up at all: its runners must
// still die (PR_SET_PDEATHSIG). A middle process plays the daemon.
TEST(Supervisor, RunnerDiesWithItsParent) {
    // Orphans re-parent to this process, so we can reap the runner and see how it died.
    ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    int pipefd[2];
    ASSERT_EQ(::pipe(pipefd), 0);
    const pid_t middle = ::fork();
    ASSERT_GE(middle, 0);
    if (middle == 0) {
        ::close(pipefd[0]);
        // The hardest runner to get rid of: it ignores shutdown and SIGTERM.
        RunnerSupervisor sup(options({"--ignore-shutdown", "--ignore-term"}));
        sup.start();
        if (!sup.wait_for_phase(RunnerPhase::ready, 20s)) ::_exit(3);
        const pid_t runner = sup.pid();
        if (::write(pipefd[1], &runner, sizeof runner) != sizeof runner) ::_exit(4);
        for (;;) ::pause();
    }
    ::close(pipefd[1]);
    pid_t runner = -1;
    pollfd pfd{pipefd[0], POLLIN, 0};
    ASSERT_EQ(::poll(&pfd, 1, 30000), 1) << "the middle process never reported its runner";
    ASSERT_EQ(::read(pipefd[0], &runner, sizeof runner), ssize_t(sizeof runner));
    ::close(pipefd[0]);
    ASSERT_GT(runner, 0);
    ASSERT_EQ(::kill(runner, 0), 0);

    ASSERT_EQ(::kill(middle, SIGKILL), 0);
    int st = 0;
    ASSERT_EQ(::waitpid(middle, &st, 0), middle);
    ASSERT_TRUE(WIFSIGNALED(st));

    pid_t got = 0;
    ASSERT_TRUE(eventually([&] {
        got = ::waitpid(runner, &st, WNOHANG);
        return got == runner;
    }, 10s)) << "the runner outlived its parent";
    EXPECT_TRUE(WIFSIGNALED(st));
    EXPECT_EQ(WTERMSIG(st), SIGKILL);
    EXPECT_FALSE(std::filesystem::exists("/proc/" + std::to_string(runner)));
    ::prctl(PR_SET_CHILD_SUBREAPER, 0);
    expect_no_children();
}

// The worker maps the runner's own phase lines onto /state: on_report sees
// each one ("loading", "chatter") with its detail, in order, but not "ready".
TEST(Supervisor, OnReportGetsEveryReportedPhaseLine) {
    std::mutex m;
    std::vector<std::pair<std::string, std::string>> seen;
    auto o = options({"--chatter", "3"});
    o.on_report = [&](const std::string &phase, const std::string &detail) {
        std::lock_guard lk(m);
        seen.emplace_back(phase, detail);
    };
    RunnerSupervisor sup(std::move(o));
    sup.start();
    ASSERT_TRUE(sup.wait_for_phase(RunnerPhase::ready, 20s));
    sup.stop();
    std::lock_guard lk(m);
    ASSERT_GE(seen.size(), 4u); // the fake may report more while it stops
    EXPECT_EQ(seen[0], std::make_pair(std::string("loading"), std::string("weights 0/5")));
    for (int i = 0; i < 3; ++i) EXPECT_EQ(seen[size_t(i) + 1], std::make_pair(std::string("chatter"), std::to_string(i)));
}
