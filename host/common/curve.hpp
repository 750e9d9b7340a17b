// ZeroMQ CURVE keys derived from the cluster secret: every node holding the
// same secret derives the same keypair, so each one can serve and dial the
// others; a node without it cannot complete a handshake (it cannot know the
// server key), so it can neither join nor read.
#pragma once

#include <optional>
#include <string>

#include <zmq.hpp>

namespace skulk::cluster {

struct CurveKeys {
    std::string public_z85; // 40 chars
    std::string secret_z85; // 40 chars
};

// BLAKE2b (libsodium) of the secret is the CURVE secret key. Throws
// std::runtime_error when libzmq lacks CURVE.
CurveKeys derive_curve_keys(const std::string &secret);

// The keys for `secret`, or nothing when it is empty (no encryption).
std::optional<CurveKeys> curve_keys_for(const std::string &secret);

// A socket that binds (server) or connects (client) with these keys; no-ops
// without keys. Set before bind/connect.
void secure_server(zmq::socket_t &s, const std::optional<CurveKeys> &keys);
void secure_client(zmq::socket_t &s, const std::optional<CurveKeys> &keys);

} // namespace skulk::cluster
