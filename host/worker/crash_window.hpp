// The crash-loop breaker: N failures within a sliding window means the
// runner is not going to come up (a bad model file, a GPU that wedges on
// load), so the instance is given up instead of restarted forever.
// DESIGN.md: 3 failures in 60 s.
#pragma once

#include <chrono>
#include <deque>

namespace skulk::worker {

class CrashWindow {
public:
    using clock = std::chrono::steady_clock;
    CrashWindow(int max_failures = 3, std::chrono::milliseconds window = std::chrono::seconds(60));

    // Records a failure at `now`; true when this makes max_failures within
    // the window (the breaker trips).
    bool record_failure(clock::time_point now);
    // Failures still inside the window at `now`.
    int failures(clock::time_point now);
    int max_failures() const { return max_failures_; }
    std::chrono::milliseconds window() const { return window_; }

private:
    void expire(clock::time_point now);
    int max_failures_;
    std::chrono::milliseconds window_;
    std::deque<clock::time_point> failures_;
};

} // namespace skulk::worker
