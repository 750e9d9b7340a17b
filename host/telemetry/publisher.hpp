// Publishes this node's reading: every 2 s, and at once when it changes
// noticeably (backends, or available memory/disk moved by more than 1 % of
// the total). Owns one thread; the sink is Node::publish_telemetry.
#pragma once

#include "telemetry/gather.hpp"

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace skulk::telemetry {

class Publisher {
public:
    using Sink = std::function<void(const Reading &)>;
    Publisher(std::filesystem::path data_dir, std::vector<BackendOffer> backends, Overrides overrides, Sink sink);
    ~Publisher(); // stops
    Publisher(const Publisher &) = delete;
    Publisher &operator=(const Publisher &) = delete;

    void start();
    void stop();

private:
    void loop();

    std::filesystem::path data_dir_;
    std::vector<BackendOffer> backends_;
    Overrides overrides_;
    Sink sink_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ = false;
    std::thread thread_;
};

// True when `now` differs enough from `last` to publish before the period.
bool changed_noticeably(const Reading &last, const Reading &now);

} // namespace skulk::telemetry
