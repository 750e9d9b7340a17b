// GET /metrics: Prometheus text exposition (version 0.0.4) of the serving
// path. Counters and histograms are lock-free on the hot path (a token's
// inter-token observation is two relaxed atomic adds); the per-route request
// counter takes a mutex once per request.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace skulk::api {

class Histogram {
public:
    // Upper bounds in seconds, ascending; +Inf is implicit.
    explicit Histogram(std::vector<double> bounds);
    void observe(double seconds);
    // Appends the _bucket/_sum/_count lines of `name`.
    void render(std::string &out, std::string_view name, std::string_view help) const;

private:
    std::vector<double> bounds_;
    std::unique_ptr<std::atomic<uint64_t>[]> buckets_; // bounds_.size() + 1 (the +Inf bucket)
    std::atomic<uint64_t> count_{0};
    std::atomic<uint64_t> sum_us_{0};
};

// What /metrics reports besides the counters: sampled when rendering.
struct MetricsSnapshot {
    std::map<std::string, int> runners_by_phase; // "Ready" -> 1
    bool eventlog_counting_only = false;
    uint64_t eventlog_appended = 0;
};

class Metrics {
public:
    Metrics();
    void count_request(std::string_view route, int status);
    void observe_ttft(double seconds) { ttft_.observe(seconds); }
    void observe_inter_token(double seconds) { inter_token_.observe(seconds); }
    void add_tokens(uint64_t prompt, uint64_t completion) {
        prompt_tokens_.fetch_add(prompt, std::memory_order_relaxed);
        completion_tokens_.fetch_add(completion, std::memory_order_relaxed);
    }
    // Requests sent to a runner and not started yet / streaming.
    std::atomic<int64_t> queued{0};
    std::atomic<int64_t> running{0};

    std::string render(const MetricsSnapshot &snap) const;

private:
    mutable std::mutex mutex_;
    std::map<std::pair<std::string, int>, uint64_t> requests_;
    Histogram ttft_;
    Histogram inter_token_;
    std::atomic<uint64_t> prompt_tokens_{0};
    std::atomic<uint64_t> completion_tokens_{0};
};

} // namespace skulk::api
