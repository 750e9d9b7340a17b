// The runner's ZeroMQ side: a ROUTER socket bound at --endpoint, served by
// its own thread. Client frames are decoded (protocol.hpp) and handed to
// the scheduler through the RequestQueue; pings are answered here. Events
// from the scheduler come back through an inproc PAIR (EventOutlet) and go
// out to the client's DEALER as they are produced. A send to a DEALER that
// is gone (ROUTER_MANDATORY: EHOSTUNREACH) cancels that client's requests.
#pragma once

#include "cluster/curve.hpp"
#include "runner/request_queue.hpp"

#include <zmq.hpp>

#include <atomic>
#include <string>
#include <string_view>
#include <thread>

namespace skulk::runner {

// The scheduler thread's end of the event path (one thread uses it).
class EventOutlet {
public:
    explicit EventOutlet(zmq::context_t &ctx, const std::string &inproc);
    void send(const std::string &client, std::string_view event);

private:
    zmq::socket_t pair_;
};

class IpcServer {
public:
    // Binds at once; throws std::runtime_error naming the endpoint. With keys
    // (a cluster secret) every client must speak CURVE, local ones too.
    IpcServer(zmq::context_t &ctx, const std::string &endpoint, RequestQueue &inbox,
              const std::optional<cluster::CurveKeys> &keys = std::nullopt);
    ~IpcServer();
    // Also serves clients on other nodes at `listen` (tcp://HOST:*); returns
    // the bound address. Before start().
    std::string bind_tcp(const std::string &listen);
    void start();
    // Forwards what the outlet still holds, then closes the socket.
    void stop();
    void set_ready(bool ready) { ready_ = ready; }
    EventOutlet &outlet() { return outlet_; }

private:
    void loop();
    void on_client_frame(const zmq::message_t &identity, const zmq::message_t &frame);
    void forward_events();
    void send_to(const std::string &client, std::string_view event);

    zmq::context_t &ctx_;
    std::string endpoint_, inproc_;
    RequestQueue &inbox_;
    zmq::socket_t router_, pair_;
    EventOutlet outlet_;
    std::atomic<bool> ready_{false}, stop_{false};
    std::thread thread_;
};

} // namespace skulk::runner
