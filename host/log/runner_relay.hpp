// Runners' log lines into the daemon's logs. The daemon binds a Unix
// datagram socket (abstract name, in SKULK_LOG_RELAY, inherited by every
// runner); a runner sends each record there without waiting (a full socket
// drops the line) and still prints its human line on its own stderr. The
// daemon writes the records to its durable log and JSON sinks, tagged with
// the runner's runner_id and instance_id; only senders of the daemon's own
// uid are taken (SO_PASSCRED).
//
// Datagram: "<spdlog level digit>\t<component>\t<runner_id>\t<instance_id>\t<message>".
#pragma once

#include <spdlog/sinks/base_sink.h>

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace skulk::log {

class RunnerLogRelay {
public:
    // Binds the socket and exports SKULK_LOG_RELAY (before any thread reads
    // the environment). Throws std::system_error.
    explicit RunnerLogRelay(std::vector<spdlog::sink_ptr> sinks);
    ~RunnerLogRelay(); // stop()
    void start();
    void stop();
    uint64_t received() const { return received_.load(std::memory_order_relaxed); }

private:
    void run();
    void deliver(std::string_view datagram);

    std::vector<spdlog::sink_ptr> sinks_; // every sink but the human stderr one (the runner printed that)
    int fd_ = -1;
    int stop_pipe_[2] = {-1, -1};
    std::thread thread_;
    std::atomic<uint64_t> received_{0};
};

// The runner's side: a sink sending each record to the daemon's relay.
class RelaySink final : public spdlog::sinks::base_sink<std::mutex> {
public:
    // Connects to `address` ("@name": abstract). Throws std::system_error.
    RelaySink(const std::string &address, std::string runner_id, std::string instance_id);
    ~RelaySink() override;

protected:
    void sink_it_(const spdlog::details::log_msg &msg) override;
    void flush_() override {}

private:
    int fd_ = -1;
    std::string header_; // "\t<runner_id>\t<instance_id>\t"
};

} // namespace skulk::log
