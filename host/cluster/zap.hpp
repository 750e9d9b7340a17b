// The ZAP handler (ZeroMQ's authentication hook, RFC 27) of a node's context:
// libzmq asks it about every CURVE handshake on the cluster ports. With a
// cluster secret it admits only clients whose CURVE key is the key pair
// derived from the secret: CURVE's handshake proves the client holds that
// pair's secret key, so admission proves knowledge of the cluster secret.
// Without a secret it admits every CURVE client (encryption only).
#pragma once

#include <zmq.hpp>
#include <zmq_addon.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include <spdlog/logger.h>

namespace skulk::cluster {

class ZapHandler {
public:
    // Binds inproc://zeromq.zap.01 in `ctx`: do it before any server socket
    // of the context binds. member_key_z85: the one client key to admit
    // (nullopt: admit all).
    ZapHandler(zmq::context_t &ctx, std::optional<std::string> member_key_z85, std::shared_ptr<spdlog::logger> log);

    zmq::socket_t &socket() { return socket_; }
    // Answers every waiting request (non-blocking).
    void handle();
    uint64_t refused() const { return refused_; }

private:
    void answer(zmq::multipart_t &request);

    zmq::socket_t socket_;
    std::optional<std::string> member_key_; // 32 raw bytes
    std::shared_ptr<spdlog::logger> log_;
    std::set<std::string> warned_;          // addresses already logged (bounded)
    std::atomic<uint64_t> refused_{0}; // read by other threads (the /state view)
};

} // namespace skulk::cluster
