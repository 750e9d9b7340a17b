// ZeroMQ CURVE keys. derive_curve_keys: from the cluster secret; every node
// holding the same secret derives the same keypair (runners' pipeline and
// request sockets use it as both ends). cluster_server_keys: what the cluster
// ports serve with (see docs/architecture.md, "Cluster", for the threat model).
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

// The pair every node's cluster sockets (PUB, ROUTER) serve with. With a
// secret: derive_curve_keys(secret), which only members can compute. Without
// one: derived from the namespace, which anyone can: the traffic is still
// encrypted (CURVE's per-connection keys defeat a passive listener), but it
// authenticates no one.
CurveKeys cluster_server_keys(const std::string &secret, const std::string &ns);

// A cluster server socket: CURVE server with `server`, ZAP domain "skulk-cluster".
void secure_cluster_server(zmq::socket_t &s, const CurveKeys &server);
// A cluster client socket: dials a server with public key `server_public_z85`
// presenting `own` as its CURVE client key.
void secure_cluster_client(zmq::socket_t &s, const std::string &server_public_z85, const CurveKeys &own);

constexpr const char *kZapDomain = "skulk-cluster";

} // namespace skulk::cluster
