#include "pipeline/stage.hpp"

#include "log/logging.hpp"

#include <chrono>

namespace skulk::pipeline {

namespace {
// A hub that never completes the handshake (its node died before we came up).
constexpr std::chrono::seconds kConnectTimeout{30};
} // namespace

Stage::Stage(zmq::context_t &ctx, engine::ComputeSession &session, uint32_t rank, uint32_t world_size,
             const std::string &hub_endpoint, const std::optional<cluster::CurveKeys> &keys)
    : session_(session), rank_(rank), world_size_(world_size), dealer_(ctx, zmq::socket_type::dealer), hub_(hub_endpoint) {
    const bool head = session.range_flags() & SKULK_RANGE_HEAD;
    // The last rank returns at most one logits row per sequence; a middle rank every row's hidden state.
    out_.resize(head ? static_cast<size_t>(session.n_seq_max()) * static_cast<size_t>(session.n_vocab())
                     : static_cast<size_t>(session.n_batch_max()) * static_cast<size_t>(session.n_embd()));
    const std::string id = "rank-" + std::to_string(rank);
    dealer_.set(zmq::sockopt::routing_id, id);
    configure_peer_socket(dealer_);
    cluster::secure_client(dealer_, keys);
    watch_ = std::make_unique<PeerWatch>(ctx, dealer_);
    dealer_.connect(hub_endpoint);
}

void Stage::join() {
    Hello h;
    h.first_layer = session_.first_layer();
    h.last_layer = session_.last_layer();
    h.world_size = world_size_;
    h.n_embd = static_cast<uint32_t>(session_.n_embd());
    h.n_vocab = static_cast<uint32_t>(session_.n_vocab());
    send_hello(dealer_, rank_, h); // queued by ZeroMQ until the connection is up
}

std::string Stage::run_step(const Message &m) {
    const Header &h = m.header;
    const StepView v = step_view(m);
    const bool head = session_.range_flags() & SKULK_RANGE_HEAD;
    if (h.width != uint32_t(session_.n_embd())) return "step " + std::to_string(h.step) + " has rows of " + std::to_string(h.width) + " floats, this model " + std::to_string(session_.n_embd());
    if (h.n_tokens > session_.n_batch_max()) return "step " + std::to_string(h.step) + " carries " + std::to_string(h.n_tokens) + " tokens, more than n_batch_max";
    if (head && h.n_out > session_.n_seq_max()) return "step " + std::to_string(h.step) + " wants more logits rows than sequences";
    for (const Drop &d : v.drops) session_.seq_drop(d.seq, d.p0, d.p1);
    skulk_batch b{};
    b.size = sizeof b;
    b.n_tokens = h.n_tokens;
    b.embd = v.hidden.data();
    b.pos = v.pos.data();
    b.seq_id = v.seq.data();
    b.want_output = v.want.data();
    const uint32_t rows = head ? h.n_out : h.n_tokens;
    const uint32_t width = head ? static_cast<uint32_t>(session_.n_vocab()) : h.width;
    try {
        session_.forward(b, out_.data(), size_t(rows) * width);
    } catch (const std::exception &e) {
        return std::string("step ") + std::to_string(h.step) + ": " + e.what();
    }
    if (!send_result(dealer_, rank_, h.step, rows, width, out_.data())) return "rank 0 cannot be reached";
    return "";
}

std::string Stage::serve(const std::atomic<bool> &stop) {
    auto log = log::get("pipeline");
    const auto started = std::chrono::steady_clock::now();
    bool bye = false;
    Message m;
    std::string route, who;
    while (!stop.load()) {
        zmq::pollitem_t items[2] = {{dealer_.handle(), 0, ZMQ_POLLIN, 0}, {watch_->socket().handle(), 0, ZMQ_POLLIN, 0}};
        zmq::poll(items, 2, std::chrono::milliseconds(100));
        if ((items[1].revents & ZMQ_POLLIN) && watch_->disconnected(who) && !bye)
            return "rank 0's hub (" + hub_ + ") disconnected; its node may be down";
        if (!watch_->ever_connected() && std::chrono::steady_clock::now() - started > kConnectTimeout)
            return "rank 0's hub " + hub_ + " did not answer within " + std::to_string(kConnectTimeout.count()) + " s";
        if (!(items[0].revents & ZMQ_POLLIN) || !receive(dealer_, false, route, m, std::chrono::milliseconds(0))) continue;
        try {
            validate(m);
        } catch (const FrameError &e) {
            send_error(dealer_, rank_, e.what());
            return e.what();
        }
        switch (static_cast<Kind>(m.header.kind)) {
        case Kind::step:
            if (auto err = run_step(m); !err.empty()) {
                send_error(dealer_, rank_, err);
                return err;
            }
            break;
        case Kind::bye:
            // Rank 0 stopped on purpose: its instance is going away and our worker stops us too.
            log->info("rank 0 said bye; waiting to be stopped");
            bye = true;
            break;
        default: log->warn("pipeline: ignoring a {} message", to_string(static_cast<Kind>(m.header.kind)));
        }
    }
    return "";
}

} // namespace skulk::pipeline
