#include "api/metrics.hpp"

#include "log/log_control.hpp"

#include <fmt/format.h>

namespace skulk::api {
namespace {

// Label values are route paths and phase names; escape what the format asks.
std::string label(std::string_view v) {
    std::string out;
    for (char c : v) {
        if (c == '\\' || c == '"') out += '\\';
        if (c == '\n') { out += "\\n"; continue; }
        out += c;
    }
    return out;
}

// One unlabelled sample with its HELP and TYPE lines (gauges may be signed).
template <class T>
void scalar(std::string &out, std::string_view name, std::string_view type, std::string_view help, T value) {
    out += fmt::format("# HELP {0} {1}\n# TYPE {0} {2}\n{0} {3}\n", name, help, type, value);
}

} // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
    for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i] = 0;
}

void Histogram::observe(double seconds) {
    size_t i = 0;
    while (i < bounds_.size() && seconds > bounds_[i]) ++i;
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
    sum_us_.fetch_add(uint64_t(seconds > 0 ? seconds * 1e6 : 0), std::memory_order_relaxed);
}

void Histogram::render(std::string &out, std::string_view name, std::string_view help) const {
    out += fmt::format("# HELP {} {}\n# TYPE {} histogram\n", name, help, name);
    uint64_t cumulative = 0;
    for (size_t i = 0; i < bounds_.size(); ++i) {
        cumulative += buckets_[i].load(std::memory_order_relaxed);
        out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, bounds_[i], cumulative);
    }
    cumulative += buckets_[bounds_.size()].load(std::memory_order_relaxed);
    out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n", name, cumulative);
    out += fmt::format("{}_sum {}\n", name, double(sum_us_.load(std::memory_order_relaxed)) / 1e6);
    out += fmt::format("{}_count {}\n", name, cumulative);
}

Metrics::Metrics()
    : ttft_({0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}),
      inter_token_({0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}) {}

void Metrics::count_request(std::string_view route, int status) {
    std::lock_guard lk(mutex_);
    ++requests_[{std::string(route), status}];
}

std::string Metrics::render(const MetricsSnapshot &snap) const {
    std::string out;
    out += "# HELP skulk_http_requests_total Inference requests answered, by route and HTTP status.\n"
           "# TYPE skulk_http_requests_total counter\n";
    {
        std::lock_guard lk(mutex_);
        for (const auto &[key, n] : requests_)
            out += fmt::format("skulk_http_requests_total{{route=\"{}\",status=\"{}\"}} {}\n", label(key.first), key.second, n);
    }
    ttft_.render(out, "skulk_time_to_first_token_seconds", "Time from a request's arrival to its first output text.");
    inter_token_.render(out, "skulk_inter_token_seconds", "Time between two output deltas of one stream.");
    scalar(out, "skulk_prompt_tokens_total", "counter", "Prompt tokens of finished requests.", prompt_tokens_.load());
    scalar(out, "skulk_generated_tokens_total", "counter", "Tokens generated for finished requests.", completion_tokens_.load());
    scalar(out, "skulk_queue_depth", "gauge", "Requests sent to a runner that have not started yet.", queued.load());
    scalar(out, "skulk_running_requests", "gauge", "Requests producing output now.", running.load());
    out += "# HELP skulk_runners Runners in the cluster state, by phase.\n# TYPE skulk_runners gauge\n";
    for (const auto &[phase, n] : snap.runners_by_phase)
        out += fmt::format("skulk_runners{{phase=\"{}\"}} {}\n", label(phase), n);
    scalar(out, "skulk_eventlog_counting_only", "gauge", "1 when the event log only counts (disk full), 0 when it persists.", snap.eventlog_counting_only ? 1 : 0);
    scalar(out, "skulk_eventlog_appended_total", "counter", "Events appended to the event log.", snap.eventlog_appended);
    const auto dropped = log::dropped_lines();
    out += "# HELP skulk_log_dropped_lines_total Log lines dropped so that no thread waits on logging: the queue was full, or the pipe to the log shipper was.\n"
           "# TYPE skulk_log_dropped_lines_total counter\n";
    out += fmt::format("skulk_log_dropped_lines_total{{reason=\"queue_full\"}} {}\n", dropped.queue_full);
    out += fmt::format("skulk_log_dropped_lines_total{{reason=\"shipper\"}} {}\n", dropped.shipper);
    return out;
}

} // namespace skulk::api
