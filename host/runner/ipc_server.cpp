#include "runner/ipc_server.hpp"

#include "log/logging.hpp"
#include "runner/protocol.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace skulk::runner {

IpcServer::IpcServer(zmq::context_t &ctx, const std::string &endpoint, const std::optional<cluster::CurveKeys> &keys)
    : router_(ctx, zmq::socket_type::router) {
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
    router_.set(zmq::sockopt::router_mandatory, 1);
    router_.set(zmq::sockopt::sndhwm, 0); // never drop or block on events
    router_.set(zmq::sockopt::rcvhwm, 0);
    router_.set(zmq::sockopt::linger, 500); // the last events still go out on close
    cluster::secure_server(router_, keys);
    const std::string_view unix_path = unix_frames::path_of(endpoint);
    std::filesystem::path file(unix_path); // unix:// and ipc:// endpoints are files, maybe in a new folder
    if (endpoint.rfind("ipc://", 0) == 0) file = endpoint.substr(6);
    std::error_code ec;
    if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path(), ec);
    try {
        if (!unix_path.empty()) unix_.emplace(std::string(unix_path));
        else router_.bind(endpoint);
    } catch (const std::exception &e) {
        ::close(wake_fd_);
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

IpcServer::~IpcServer() {
    stop();
    if (loading_thread_.joinable()) loading_thread_.join();
    ::close(wake_fd_);
}

void IpcServer::start_loading() {
    loading_ = true;
    loading_thread_ = std::thread([this] { loading_loop(); });
}

void IpcServer::serve() {
    loading_ = false;
    wake();
    if (loading_thread_.joinable()) loading_thread_.join(); // the socket changes threads here
    uint64_t n;
    (void)!::read(wake_fd_, &n, sizeof n); // that wake-up was the loading thread's
    if (stop_.load()) wake();              // ...unless a stop() came as well
}

void IpcServer::stop() {
    stop_ = true;
    wake();
}

void IpcServer::wake() {
    const uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof one);
}

void IpcServer::loading_loop() {
    while (loading_.load() && !stop_.load()) {
        if (wait_for_input(std::chrono::hours(1))) read_frames(false, nullptr);
    }
}

bool IpcServer::take(std::vector<Command> &out, std::chrono::milliseconds wait) {
    out.clear();
    out.swap(gone_);
    const auto deadline = std::chrono::steady_clock::now() + wait;
    for (;;) {
        if (stop_.load()) return false;
        read_frames(true, &out);
        if (!out.empty()) return true;
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return true;
        wait_for_input(left);
    }
}

bool IpcServer::wait_for_input(std::chrono::milliseconds wait) {
    poll_items_.clear();
    poll_items_.push_back({router_.handle(), 0, ZMQ_POLLIN, 0});
    poll_items_.push_back({nullptr, wake_fd_, ZMQ_POLLIN, 0});
    if (unix_) unix_->add_poll_items(poll_items_);
    try {
        return zmq::poll(poll_items_, wait) > 0;
    } catch (const zmq::error_t &e) {
        if (e.num() != EINTR) log::get("runner")->error("ipc: {}", e.what());
        return false;
    }
}

void IpcServer::read_frames(bool serving, std::vector<Command> *out) {
    if (unix_) {
        unix_frames_.clear();
        unix_gone_.clear();
        unix_->service(unix_frames_, unix_gone_);
        for (const auto &f : unix_frames_) on_client_frame(f.client, f.text, serving, out);
        if (out)
            for (auto &client : unix_gone_) out->push_back(Command{Command::Op::client_gone, std::move(client), {}, {}});
    }
    try {
        for (;;) {
            zmq::message_t identity, frame;
            if (!router_.recv(identity, zmq::recv_flags::dontwait)) return;
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
            if (ok) on_client_frame(std::string(static_cast<const char *>(identity.data()), identity.size()),
                                    frame.to_string_view(), serving, out);
        }
    } catch (const zmq::error_t &e) {
        if (e.num() != ETERM) log::get("runner")->error("ipc: {}", e.what());
    }
}

void IpcServer::on_client_frame(const std::string &client, std::string_view frame, bool serving,
                                std::vector<Command> *out) {
    ClientMessage msg;
    ProtocolError err;
    if (!decode_client_message(frame, msg, err)) {
        log::get("runner")->warn("ipc: rejected a message: {}", err.message);
        send(client, error_event(err.command_id, 400, "invalid_request_error", err.message));
        return;
    }
    switch (msg.op) {
    case ClientMessage::Op::ping:
        send(client, pong_event(serving));
        return;
    case ClientMessage::Op::cancel:
        if (serving) out->push_back(Command{Command::Op::cancel, client, std::move(msg.command_id), {}});
        return; // while loading there is nothing to cancel
    case ClientMessage::Op::generate:
        if (!serving) {
            send(client, error_event(msg.command_id, 503, "runner_not_ready",
                                     "the runner is still loading its model; retry when it is ready"));
            return;
        }
        out->push_back(Command{Command::Op::generate, client, std::move(msg.command_id), std::move(msg.request)});
        return;
    }
}

void IpcServer::send(const std::string &client, std::string_view event) {
    if (unix_ && UnixClients::owns(client)) {
        unix_->send(client, event);
        return;
    }
    try {
        router_.send(zmq::buffer(client), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
        router_.send(zmq::buffer(event.data(), event.size()), zmq::send_flags::dontwait);
    } catch (const zmq::error_t &e) {
        if (e.num() == EHOSTUNREACH) // the client's DEALER is gone: its requests are abandoned
            gone_.push_back(Command{Command::Op::client_gone, client, {}, {}});
        else if (e.num() != ETERM)
            log::get("runner")->error("ipc: sending to a client: {}", e.what());
    }
}

} // namespace skulk::runner
