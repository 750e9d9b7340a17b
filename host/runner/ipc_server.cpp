#include "runner/ipc_server.hpp"

#include "log/logging.hpp"
#include "runner/protocol.hpp"

#include <atomic>
#include <filesystem>
#include <stdexcept>

namespace skulk::runner {

namespace {

std::string next_inproc_name() {
    static std::atomic<int> n{0};
    return "inproc://skulk-runner-events-" + std::to_string(n++);
}

} // namespace

EventOutlet::EventOutlet(zmq::context_t &ctx, const std::string &inproc) : pair_(ctx, zmq::socket_type::pair) {
    pair_.set(zmq::sockopt::sndhwm, 0); // never drop or block on events
    pair_.set(zmq::sockopt::linger, 0);
    pair_.connect(inproc);
}

void EventOutlet::send(const std::string &client, std::string_view event) {
    pair_.send(zmq::buffer(client), zmq::send_flags::sndmore);
    pair_.send(zmq::buffer(event.data(), event.size()), zmq::send_flags::none);
}

IpcServer::IpcServer(zmq::context_t &ctx, const std::string &endpoint, RequestQueue &inbox,
                     const std::optional<cluster::CurveKeys> &keys)
    : ctx_(ctx), endpoint_(endpoint), inproc_(next_inproc_name()), inbox_(inbox),
      router_(ctx, zmq::socket_type::router), pair_(ctx, zmq::socket_type::pair),
      outlet_((pair_.bind(inproc_), ctx), inproc_) {
    router_.set(zmq::sockopt::router_mandatory, 1);
    router_.set(zmq::sockopt::sndhwm, 0);
    router_.set(zmq::sockopt::rcvhwm, 0);
    router_.set(zmq::sockopt::linger, 500);
    cluster::secure_server(router_, keys);
    pair_.set(zmq::sockopt::rcvhwm, 0);
    if (endpoint.rfind("ipc://", 0) == 0) {
        const std::filesystem::path sock = endpoint.substr(6);
        std::error_code ec;
        if (sock.has_parent_path()) std::filesystem::create_directories(sock.parent_path(), ec);
    }
    try {
        router_.bind(endpoint);
    } catch (const zmq::error_t &e) {
        throw std::runtime_error("--endpoint " + endpoint + ": cannot bind: " + e.what());
    }
}

std::string IpcServer::bind_tcp(const std::string &listen) {
    try {
        router_.bind(listen);
    } catch (const zmq::error_t &e) {
        throw std::runtime_error("--request-listen " + listen + ": cannot bind: " + e.what());
    }
    return router_.get(zmq::sockopt::last_endpoint);
}

IpcServer::~IpcServer() { stop(); }

void IpcServer::start() { thread_ = std::thread([this] { loop(); }); }

void IpcServer::stop() {
    if (!thread_.joinable()) return;
    stop_ = true;
    thread_.join();
}

void IpcServer::loop() {
    auto log = log::get("runner");
    zmq::pollitem_t items[] = {{router_.handle(), 0, ZMQ_POLLIN, 0}, {pair_.handle(), 0, ZMQ_POLLIN, 0}};
    // The poll timeout only bounds how soon stop() is seen.
    while (!stop_.load()) {
        try {
            zmq::poll(items, 2, std::chrono::milliseconds(50));
            if (items[1].revents & ZMQ_POLLIN) forward_events();
            while (items[0].revents & ZMQ_POLLIN) {
                zmq::message_t identity, frame;
                if (!router_.recv(identity, zmq::recv_flags::dontwait)) break;
                // A DEALER sends [payload]; a REQ-style client [empty, payload].
                bool ok = true;
                do {
                    if (!router_.get(zmq::sockopt::rcvmore)) {
                        ok = false;
                        break;
                    }
                    (void)router_.recv(frame);
                } while (frame.size() == 0);
                while (router_.get(zmq::sockopt::rcvmore)) { // extra frames are not part of the protocol
                    zmq::message_t extra;
                    (void)router_.recv(extra);
                }
                if (ok) on_client_frame(identity, frame);
            }
        } catch (const zmq::error_t &e) {
            if (e.num() == ETERM) return;
            log->error("ipc: {}", e.what());
        }
    }
    forward_events(); // the scheduler's last words (shutdown errors)
}

void IpcServer::on_client_frame(const zmq::message_t &identity, const zmq::message_t &frame) {
    const std::string client(static_cast<const char *>(identity.data()), identity.size());
    ClientMessage msg;
    ProtocolError err;
    if (!decode_client_message(frame.to_string_view(), msg, err)) {
        log::get("runner")->warn("ipc: rejected a message: {}", err.message);
        send_to(client, error_event(err.command_id, 400, "invalid_request_error", err.message));
        return;
    }
    switch (msg.op) {
    case ClientMessage::Op::ping:
        send_to(client, pong_event(ready_.load()));
        return;
    case ClientMessage::Op::cancel:
        inbox_.push(Command{Command::Op::cancel, client, std::move(msg.command_id), {}});
        return;
    case ClientMessage::Op::generate:
        if (!ready_.load()) {
            send_to(client, error_event(msg.command_id, 503, "runner_not_ready",
                                        "the runner is still loading its model; retry when it is ready"));
            return;
        }
        inbox_.push(Command{Command::Op::generate, client, std::move(msg.command_id), std::move(msg.request)});
        return;
    }
}

void IpcServer::forward_events() {
    for (;;) {
        zmq::message_t client, event;
        if (!pair_.recv(client, zmq::recv_flags::dontwait)) return;
        (void)pair_.recv(event);
        try {
            router_.send(client, zmq::send_flags::sndmore | zmq::send_flags::dontwait);
            router_.send(event, zmq::send_flags::dontwait);
        } catch (const zmq::error_t &e) {
            if (e.num() != EHOSTUNREACH) throw;
            // The client's DEALER is gone: its requests are abandoned.
            inbox_.push(Command{Command::Op::client_gone, client.to_string(), {}, {}});
        }
    }
}

void IpcServer::send_to(const std::string &client, std::string_view event) {
    try {
        router_.send(zmq::buffer(client), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
        router_.send(zmq::buffer(event.data(), event.size()), zmq::send_flags::dontwait);
    } catch (const zmq::error_t &e) {
        if (e.num() != EHOSTUNREACH) throw;
    }
}

} // namespace skulk::runner
