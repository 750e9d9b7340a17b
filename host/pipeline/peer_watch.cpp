#include "pipeline/peer_watch.hpp"

#include <atomic>
#include <cstring>

namespace skulk::pipeline {

void configure_peer_socket(zmq::socket_t &s) {
    s.set(zmq::sockopt::heartbeat_ivl, 1000);
    s.set(zmq::sockopt::heartbeat_timeout, 3000);
    s.set(zmq::sockopt::heartbeat_ttl, 3000);
    s.set(zmq::sockopt::linger, 0);
    s.set(zmq::sockopt::sndbuf, 4 << 20);
    s.set(zmq::sockopt::rcvbuf, 4 << 20);
}

PeerWatch::PeerWatch(zmq::context_t &ctx, zmq::socket_t &watched) : pair_(ctx, zmq::socket_type::pair) {
    static std::atomic<int> counter{0};
    const std::string ep = "inproc://skulk-peer-watch-" + std::to_string(counter.fetch_add(1));
    if (zmq_socket_monitor(watched.handle(), ep.c_str(), ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED) != 0)
        throw zmq::error_t();
    pair_.connect(ep);
}

bool PeerWatch::disconnected(std::string &who) {
    bool gone = false;
    for (;;) {
        zmq::message_t event, address;
        if (!pair_.recv(event, zmq::recv_flags::dontwait)) break;
        if (event.more()) (void)pair_.recv(address, zmq::recv_flags::none);
        if (event.size() < 2) continue;
        uint16_t id = 0;
        std::memcpy(&id, event.data(), 2);
        if (id == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) connected_ = true;
        if (id == ZMQ_EVENT_DISCONNECTED) {
            gone = true;
            who = address.to_string();
        }
    }
    return gone;
}

} // namespace skulk::pipeline
