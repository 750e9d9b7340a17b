// The API side of the runner's request protocol (one JSON frame per
// message, "v":1; see docs/runner-lifecycle.md "Requests"). Each inference
// request opens its own connection to the rank-0 runner: a unix:// socket
// to a runner on this node (common/unix_frames.hpp), a ZeroMQ DEALER to one
// on another. The API thread that owns the HTTP connection owns that socket
// too, so output goes runner -> API thread with no hop and no
// demultiplexing thread. Cancel requests from other threads are flags the
// owning thread polls (RequestTable).
#pragma once

#include "common/curve.hpp"
#include "common/unix_frames.hpp"

#include <zmq.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace skulk::api {

constexpr int kRunnerProtocolVersion = 1;

// The fields of a runner event the API routes on, read without a JSON DOM
// (a delta per token must stay cheap). Strings are reused between reads.
struct RunnerEventHead {
    std::string type;       // start | delta | keepalive | done | error | pong
    std::string command_id;
    int64_t version = -1;   // "v"
    void clear() { type.clear(); command_id.clear(); version = -1; }
};

// Returns false when the frame is not a JSON object with a string "type".
bool read_event_head(std::string_view frame, RunnerEventHead &head);

// One request's connection to a runner.
class RunnerConnection {
public:
    // keys: CURVE when the cluster has a secret (ZeroMQ runners then accept
    // nothing else; a unix:// socket admits only this user's processes).
    RunnerConnection(zmq::context_t &ctx, const std::string &endpoint,
                     const std::optional<cluster::CurveKeys> &keys = std::nullopt);
    ~RunnerConnection();
    RunnerConnection(const RunnerConnection &) = delete;
    RunnerConnection &operator=(const RunnerConnection &) = delete;

    // One frame; false when it cannot go (never blocks longer than ~1 s). On
    // a unix:// connection what the socket does not take at once is written
    // by the next receive()s.
    bool send(std::string_view frame);
    // Waits up to `timeout` for one frame; false on timeout or once closed().
    bool receive(std::string &frame, std::chrono::milliseconds timeout);
    // The runner's end of a unix:// connection closed (it exited or turned
    // us away): nothing more will come. A ZeroMQ connection never says so.
    bool closed() const { return closed_; }

private:
    bool receive_unix(std::string &frame, std::chrono::milliseconds timeout);

    zmq::socket_t socket_;  // ZeroMQ endpoints
    int unix_fd_ = -1;      // unix:// endpoints
    unix_frames::FrameReader unix_in_;
    std::string unix_out_; // framed, not yet taken by the socket
    bool closed_ = false;
};

// {"v":1,"op":"generate","command_id":..,"request":<canonical request>}
std::string generate_message(const std::string &command_id, std::string_view canonical_request_json);
std::string cancel_message(const std::string &command_id);
std::string ping_message();

// The requests this daemon is serving, by command_id, so that
// POST /v1/cancel/{command_id} (any thread) reaches the owning thread.
class RequestTable {
public:
    using Flag = std::shared_ptr<std::atomic<bool>>;
    Flag add(const std::string &command_id);
    void remove(const std::string &command_id);
    // false when no such request is in flight.
    bool cancel(const std::string &command_id);
    size_t size() const;

private:
    mutable std::mutex mutex_;
    std::map<std::string, Flag, std::less<>> flags_;
};

// A fresh id for a request ("cmd-" + 24 hex digits).
std::string new_command_id();

} // namespace skulk::api
