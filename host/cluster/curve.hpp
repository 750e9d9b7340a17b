// ZeroMQ CURVE keys derived from the cluster secret: every node holding the
// same secret derives the same keypair, so each one can serve and dial the
// others; a node without it cannot complete a handshake (it cannot know the
// server key), so it can neither join nor read.
#pragma once

#include <string>

namespace skulk::cluster {

struct CurveKeys {
    std::string public_z85; // 40 chars
    std::string secret_z85; // 40 chars
};

// BLAKE2b (libsodium) of the secret is the CURVE secret key. Throws
// std::runtime_error when libzmq lacks CURVE.
CurveKeys derive_curve_keys(const std::string &secret);

} // namespace skulk::cluster
