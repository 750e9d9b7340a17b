#include "cluster/zap.hpp"

#include <zmq.h>

#include <stdexcept>

namespace skulk::cluster {

ZapHandler::ZapHandler(zmq::context_t &ctx, std::optional<std::string> member_key_z85,
                       std::shared_ptr<spdlog::logger> log)
    : socket_(ctx, zmq::socket_type::rep), log_(std::move(log)) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.bind("inproc://zeromq.zap.01");
    if (member_key_z85) {
        std::string raw(32, '\0');
        if (!zmq_z85_decode(reinterpret_cast<uint8_t *>(raw.data()), member_key_z85->c_str()))
            throw std::runtime_error("the cluster member key is not Z85");
        member_key_ = std::move(raw);
    }
}

void ZapHandler::handle() {
    for (int i = 0; i < 64; ++i) {
        zmq::multipart_t request;
        if (!request.recv(socket_, ZMQ_DONTWAIT)) return;
        answer(request);
    }
}

// Request frames: version, request id, domain, address, routing id,
// mechanism, credentials (CURVE: the client's 32-byte public key).
void ZapHandler::answer(zmq::multipart_t &request) {
    std::string version, request_id, address, mechanism, key;
    if (request.size() >= 6) {
        version = request[0].to_string();
        request_id = request[1].to_string();
        address = request[3].to_string();
        mechanism = request[5].to_string();
        if (request.size() >= 7) key = request[6].to_string();
    }
    const bool admit = mechanism == "CURVE" && (!member_key_ || key == *member_key_);
    if (!admit) {
        ++refused_;
        if (warned_.size() < 256 && warned_.insert(address).second)
            log_->warn("refused a cluster connection from {}: {} (logged once per address)", address,
                       mechanism != "CURVE" ? "not CURVE" : "it does not hold the cluster secret");
    }
    zmq::multipart_t reply;
    reply.addstr(version.empty() ? "1.0" : version);
    reply.addstr(request_id);
    reply.addstr(admit ? "200" : "400");
    reply.addstr(admit ? "OK" : "not a member of this cluster");
    reply.addstr(""); // user id
    reply.addstr(""); // metadata
    reply.send(socket_);
}

} // namespace skulk::cluster
