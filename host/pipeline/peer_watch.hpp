// Notices when a pipeline peer's TCP connection drops. A killed process's
// socket is closed by its kernel at once (FIN/RST), and ZeroMQ heartbeats
// (configure_peer_socket) close a connection whose peer went silent (a dead
// machine, a cut cable) within a few seconds; either way the socket monitor
// reports ZMQ_EVENT_DISCONNECTED, which is what this class reads.
#pragma once

#include <string>
#include <zmq.hpp>

namespace skulk::pipeline {

// Every pipeline socket: ZMTP PING every second (a peer silent for 3 s is
// disconnected), no linger, and kernel buffers of 4 MiB. Linux starts a TCP
// send buffer at 16 KiB, so a step's logits (200 KiB a row for a 49k
// vocabulary) went out in several rounds of waking the receiver.
void configure_peer_socket(zmq::socket_t &s);

class PeerWatch {
public:
    PeerWatch(zmq::context_t &ctx, zmq::socket_t &watched);
    // Poll this for ZMQ_POLLIN next to the watched socket.
    zmq::socket_t &socket() { return pair_; }
    // Reads the pending monitor events. Returns true when a peer
    // disconnected (its address in `who`).
    bool disconnected(std::string &who);
    // true once any connection completed its handshake.
    bool ever_connected() const { return connected_; }

private:
    zmq::socket_t pair_;
    bool connected_ = false;
};

} // namespace skulk::pipeline
