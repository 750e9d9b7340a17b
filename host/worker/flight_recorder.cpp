#include "worker/flight_recorder.hpp"

#include <stdexcept>

namespace skulk::worker {

FlightRecorder::FlightRecorder(size_t capacity) : ring_(capacity) {
    if (capacity == 0) throw std::invalid_argument("FlightRecorder capacity must be > 0");
}

void FlightRecorder::record(std::string phase, std::string event, std::string detail) {
    const auto now = std::chrono::system_clock::now();
    std::lock_guard lock(mutex_);
    FlightEntry &slot = ring_[next_];
    slot.at = now;
    slot.phase = std::move(phase);
    slot.event = std::move(event);
    slot.detail = std::move(detail);
    next_ = (next_ + 1) % ring_.size();
    if (count_ < ring_.size()) ++count_;
}

std::vector<FlightEntry> FlightRecorder::entries() const {
    std::lock_guard lock(mutex_);
    std::vector<FlightEntry> out;
    out.reserve(count_);
    const size_t first = (next_ + ring_.size() - count_) % ring_.size();
    for (size_t i = 0; i < count_; ++i) out.push_back(ring_[(first + i) % ring_.size()]);
    return out;
}

} // namespace skulk::worker
