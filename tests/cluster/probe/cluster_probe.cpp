// cluster_probe: a stranger's raw ZeroMQ client for the cluster ports, for
// tests/cluster/stranger.test.mjs (node has no ZeroMQ binding).
//
//   cluster_probe key <secret>                 public server key of a secret's cluster
//   cluster_probe open-key <namespace>         public server key of a cluster without a secret
//   cluster_probe subscribe <tcp://h:P> <ms> [server-key]
//       SUB on the PUB port for <ms>: prints {"messages":N,"topics":[...]}
//   cluster_probe delete <tcp://h:P+1> <namespace> <instance-id> <ms> [server-key]
//       DEALER to the ROUTER port: a DeleteInstance command; prints
//       {"replied":bool,"ok":bool,"error":"..."}
// With a server key the socket speaks CURVE with a fresh client key pair
// (a stranger who knows the public key but not the secret); without, plain.
#include "common/curve.hpp"
#include "cluster/wire.hpp"

#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include <chrono>
#include <cstdio>
#include <set>
#include <string>

namespace {

using namespace skulk;
using Clock = std::chrono::steady_clock;

void secure(zmq::socket_t &s, const char *server_key) {
    if (!server_key) return;
    char pub[41] = {0}, sec[41] = {0};
    zmq_curve_keypair(pub, sec);
    cluster::secure_cluster_client(s, server_key, cluster::CurveKeys{pub, sec});
}

int subscribe(const std::string &ep, int ms, const char *server_key) {
    zmq::context_t ctx;
    zmq::socket_t sub(ctx, zmq::socket_type::sub);
    sub.set(zmq::sockopt::linger, 0);
    secure(sub, server_key);
    sub.set(zmq::sockopt::subscribe, "");
    sub.connect(ep);
    size_t n = 0;
    std::set<std::string> topics;
    const auto end = Clock::now() + std::chrono::milliseconds(ms);
    while (Clock::now() < end) {
        zmq::pollitem_t item{sub.handle(), 0, ZMQ_POLLIN, 0};
        zmq::poll(&item, 1, std::chrono::milliseconds(50));
        zmq::message_t m;
        while (sub.recv(m, zmq::recv_flags::dontwait)) {
            if (!m.more()) ++n;
            else topics.insert(m.to_string());
        }
    }
    std::printf("%s\n", nlohmann::json{{"messages", n}, {"topics", topics}}.dump().c_str());
    return 0;
}

int delete_instance(const std::string &ep, const std::string &ns, const std::string &instance, int ms,
                    const char *server_key) {
    zmq::context_t ctx;
    zmq::socket_t d(ctx, zmq::socket_type::dealer);
    d.set(zmq::sockopt::linger, 0);
    secure(d, server_key);
    d.connect(ep);
    state::DeleteInstance del;
    del.instance_id = instance;
    state::Command cmd{"probe-" + instance, "stranger", del};
    const std::string payload = cluster::encode(cluster::Envelope{cluster::kWireVersion, ns, "stranger",
                                                                  cluster::CommandRequest{cmd}});
    // Sent again every 200 ms: the first may go out before the handshake.
    nlohmann::json out{{"replied", false}, {"ok", false}, {"error", ""}};
    const auto end = Clock::now() + std::chrono::milliseconds(ms);
    auto next_send = Clock::now();
    while (Clock::now() < end) {
        if (Clock::now() >= next_send) {
            (void)d.send(zmq::buffer(payload), zmq::send_flags::dontwait);
            next_send = Clock::now() + std::chrono::milliseconds(200);
        }
        zmq::pollitem_t item{d.handle(), 0, ZMQ_POLLIN, 0};
        zmq::poll(&item, 1, std::chrono::milliseconds(50));
        zmq::message_t m;
        if (!d.recv(m, zmq::recv_flags::dontwait)) continue;
        auto dec = cluster::decode(m.to_string_view());
        if (!dec.ok) continue;
        if (auto *r = std::get_if<cluster::CommandReply>(&dec.env.body)) {
            out = {{"replied", true}, {"ok", r->ok}, {"error", r->error}};
            break;
        }
    }
    std::printf("%s\n", out.dump().c_str());
    return 0;
}

} // namespace

int main(int argc, char **argv) {
    const std::string cmd = argc > 1 ? argv[1] : "";
    try {
        if (cmd == "key" && argc == 3) return std::printf("%s\n", cluster::derive_curve_keys(argv[2]).public_z85.c_str()), 0;
        if (cmd == "open-key" && argc == 3)
            return std::printf("%s\n", cluster::cluster_server_keys("", argv[2]).public_z85.c_str()), 0;
        if (cmd == "subscribe" && (argc == 4 || argc == 5)) return subscribe(argv[2], std::stoi(argv[3]), argc == 5 ? argv[4] : nullptr);
        if (cmd == "delete" && (argc == 6 || argc == 7))
            return delete_instance(argv[2], argv[3], argv[4], std::stoi(argv[5]), argc == 7 ? argv[6] : nullptr);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "cluster_probe: %s\n", e.what());
        return 1;
    }
    std::fprintf(stderr, "usage: cluster_probe key SECRET | open-key NS | subscribe EP MS [KEY] | delete EP NS ID MS [KEY]\n");
    return 2;
}
