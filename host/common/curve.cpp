#include "common/curve.hpp"

#include <sodium.h>
#include <zmq.h>

#include <stdexcept>

namespace skulk::cluster {

CurveKeys derive_curve_keys(const std::string &secret) {
    if (!zmq_has("curve")) throw std::runtime_error("this libzmq has no CURVE support; a cluster secret cannot be used");
    if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
    static const char kContext[] = "skulk-host cluster CURVE key v1";
    unsigned char key[32];
    crypto_generichash(key, sizeof key, reinterpret_cast<const unsigned char *>(secret.data()), secret.size(),
                       reinterpret_cast<const unsigned char *>(kContext), sizeof kContext - 1);
    char sec[41] = {0}, pub[41] = {0};
    if (!zmq_z85_encode(sec, key, sizeof key) || zmq_curve_public(pub, sec) != 0)
        throw std::runtime_error("cannot derive the CURVE keypair from the cluster secret");
    sodium_memzero(key, sizeof key);
    return CurveKeys{pub, sec};
}

std::optional<CurveKeys> curve_keys_for(const std::string &secret) {
    if (secret.empty()) return std::nullopt;
    return derive_curve_keys(secret);
}

void secure_server(zmq::socket_t &s, const std::optional<CurveKeys> &keys) {
    if (!keys) return;
    s.set(zmq::sockopt::curve_server, 1);
    s.set(zmq::sockopt::curve_secretkey, keys->secret_z85);
}

void secure_client(zmq::socket_t &s, const std::optional<CurveKeys> &keys) {
    if (!keys) return;
    s.set(zmq::sockopt::curve_serverkey, keys->public_z85);
    s.set(zmq::sockopt::curve_publickey, keys->public_z85);
    s.set(zmq::sockopt::curve_secretkey, keys->secret_z85);
}

CurveKeys cluster_server_keys(const std::string &secret, const std::string &ns) {
    if (!secret.empty()) return derive_curve_keys(secret);
    return derive_curve_keys("skulk-host open cluster, namespace " + ns);
}

void secure_cluster_server(zmq::socket_t &s, const CurveKeys &server) {
    s.set(zmq::sockopt::curve_server, 1);
    s.set(zmq::sockopt::curve_secretkey, server.secret_z85);
    s.set(zmq::sockopt::zap_domain, kZapDomain);
}

void secure_cluster_client(zmq::socket_t &s, const std::string &server_public_z85, const CurveKeys &own) {
    s.set(zmq::sockopt::curve_serverkey, server_public_z85);
    s.set(zmq::sockopt::curve_publickey, own.public_z85);
    s.set(zmq::sockopt::curve_secretkey, own.secret_z85);
}

} // namespace skulk::cluster
