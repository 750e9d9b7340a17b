// The last N lifecycle entries of one runner (DESIGN.md: 128), kept in a
// ring so a crash or a hang can be explained after the fact
// (/v1/diagnostics/node shows them). Thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <vector>

namespace skulk::worker {

struct FlightEntry {
    std::chrono::system_clock::time_point at;
    std::string phase;  // "spawn", "warmup", "ready", "stop", "exit", "breaker", or what the runner reports
    std::string event;  // "started", "deadline", "sigterm", ...
    std::string detail; // free text: a pid, an exit status, a reason
};

class FlightRecorder {
public:
    static constexpr size_t kDefaultCapacity = 128;
    explicit FlightRecorder(size_t capacity = kDefaultCapacity);

    void record(std::string phase, std::string event, std::string detail = {});
    // Oldest first.
    std::vector<FlightEntry> entries() const;
    size_t capacity() const { return ring_.size(); }

private:
    mutable std::mutex mutex_;
    std::vector<FlightEntry> ring_;
    size_t next_ = 0;  // slot the next entry goes to
    size_t count_ = 0; // entries held, <= capacity
};

} // namespace skulk::worker
