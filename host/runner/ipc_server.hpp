// Where the runner's clients reach it: --endpoint, either a ZeroMQ ROUTER
// (ipc:// or tcp://) or a unix://PATH socket for the API threads of this
// node (runner/unix_clients.hpp, without ZeroMQ's I/O threads), and the
// ROUTER at --request-listen for other nodes'. One thread at a time uses them.
//
// While the model loads, a thread of its own answers pings ("ready":false)
// and refuses generates (503). serve() ends that thread and gives the socket
// to the scheduler thread, which reads commands with take() between its
// steps and sends each event itself with send(). An event is then one
// ZeroMQ send on the thread that produced it: handing it to another thread
// woke that thread for every token, and on a machine with few cores each
// wake-up preempts an engine thread in the middle of a forward pass.
//
// A send to a DEALER that is gone (ROUTER_MANDATORY: EHOSTUNREACH) becomes
// a client_gone command in the next take(), which cancels that client's
// requests; so does a unix:// connection that closes.
#pragma once

#include "common/curve.hpp"
#include "runner/request.hpp"
#include "runner/unix_clients.hpp"

#include <zmq.hpp>

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace skulk::runner {

class IpcServer {
public:
    // Binds at once; throws std::runtime_error naming the endpoint. With keys
    // (a cluster secret) every client must speak CURVE, local ones too.
    IpcServer(zmq::context_t &ctx, const std::string &endpoint,
              const std::optional<cluster::CurveKeys> &keys = std::nullopt);
    ~IpcServer();
    IpcServer(const IpcServer &) = delete;
    IpcServer &operator=(const IpcServer &) = delete;

    // Also serves clients on other nodes at `listen` (tcp://HOST:*); returns
    // the bound address. Before start_loading().
    std::string bind_tcp(const std::string &listen);
    // The loading thread starts answering.
    void start_loading();
    // Ends the loading thread: from now on take() and send() are called by
    // one thread (the scheduler's), and generates are admitted.
    void serve();

    // Swaps the commands that arrived into `out` (cleared first), answering
    // pings on the way. With wait > 0, blocks until one arrives, stop() or
    // the timeout. Returns false once stop() was called.
    bool take(std::vector<Command> &out, std::chrono::milliseconds wait);
    void send(const std::string &client, std::string_view event);

    // Any thread: take() returns false from now on (a waiting one at once),
    // and the loading thread ends.
    void stop();

private:
    void loading_loop();
    // Reads every frame waiting on the socket. serving: commands go to *out;
    // else generates are refused as not ready.
    void read_frames(bool serving, std::vector<Command> *out);
    void on_client_frame(const std::string &client, std::string_view frame, bool serving, std::vector<Command> *out);
    // Waits up to `wait` for a frame or a wake(); true when either came.
    bool wait_for_input(std::chrono::milliseconds wait);
    void wake();

    zmq::socket_t router_;
    std::optional<UnixClients> unix_; // with a unix:// endpoint
    std::vector<zmq::pollitem_t> poll_items_;
    std::vector<UnixClients::Frame> unix_frames_; // read_frames()' lists, reused
    std::vector<std::string> unix_gone_;
    int wake_fd_ = -1; // eventfd: stop() and serve() interrupt a wait
    std::atomic<bool> stop_{false}, loading_{false};
    std::vector<Command> gone_; // client_gone commands found by send()
    std::thread loading_thread_;
};

} // namespace skulk::runner
