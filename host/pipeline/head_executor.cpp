#include "pipeline/head_executor.hpp"

#include "log/logging.hpp"

#include <algorithm>

namespace skulk::pipeline {

zmq::socket_t HeadExecutor::bind_hub(zmq::context_t &ctx, const std::string &listen, std::string &endpoint,
                                     const std::optional<cluster::CurveKeys> &keys) {
    zmq::socket_t hub(ctx, zmq::socket_type::router);
    cluster::secure_server(hub, keys);
    hub.set(zmq::sockopt::router_mandatory, 1);
    hub.set(zmq::sockopt::sndtimeo, 2000); // a rank that stopped reading counts as gone
    configure_peer_socket(hub);
    try {
        hub.bind(listen);
    } catch (const zmq::error_t &e) {
        throw std::runtime_error("--pipeline-listen: cannot bind " + listen + ": " + e.what());
    }
    endpoint = hub.get(zmq::sockopt::last_endpoint);
    return hub;
}

HeadExecutor::HeadExecutor(zmq::context_t &ctx, zmq::socket_t hub, engine::ComputeSession &local, uint32_t world_size,
                           uint32_t n_layer_total)
    : local_(local), world_size_(world_size), n_layer_total_(n_layer_total), hub_(std::move(hub)),
      watch_(std::make_unique<PeerWatch>(ctx, hub_)), routes_(world_size), ring_(world_size),
      hidden_(static_cast<size_t>(local.n_batch_max()) * static_cast<size_t>(local.n_embd())) {
    if (world_size < 2) throw std::invalid_argument("a pipeline head needs world_size >= 2");
    for (auto &s : ring_) {
        s.pos.reserve(local.n_batch_max());
        s.seq.reserve(local.n_batch_max());
        s.want.reserve(local.n_batch_max());
    }
}

HeadExecutor::~HeadExecutor() {
    for (uint32_t r = 1; r < world_size_; ++r)
        if (!routes_[r].empty()) send_bye(hub_, routes_[r], r);
}

void HeadExecutor::broken(const std::string &why) { throw engine::ExecutorBroken(why); }

bool HeadExecutor::receive(std::chrono::milliseconds wait, Message &m) {
    zmq::pollitem_t items[2] = {{hub_.handle(), 0, ZMQ_POLLIN, 0}, {watch_->socket().handle(), 0, ZMQ_POLLIN, 0}};
    if (zmq::poll(items, 2, wait) == 0) return false;
    if (items[1].revents & ZMQ_POLLIN) {
        std::string who;
        if (watch_->disconnected(who))
            broken("a pipeline rank disconnected (" + (who.empty() ? std::string("peer") : who) +
                   "); its node may be down");
    }
    if (!(items[0].revents & ZMQ_POLLIN)) return false;
    if (!pipeline::receive(hub_, true, route_, m, std::chrono::milliseconds(0))) return false;
    try {
        validate(m);
    } catch (const FrameError &e) {
        broken(std::string("from ") + route_ + ": " + e.what());
    }
    const Header &h = m.header;
    if (h.rank == 0 || h.rank >= world_size_) broken("a message from rank " + std::to_string(h.rank) + " of " + std::to_string(world_size_));
    if (static_cast<Kind>(h.kind) == Kind::error)
        broken("pipeline rank " + std::to_string(h.rank) + " failed: " + error_text(m));
    return true;
}

bool HeadExecutor::wait_for_ranks(const std::function<bool()> &stopping) {
    auto log = log::get("pipeline");
    std::vector<Hello> hellos(world_size_);
    const uint32_t my_last = local_.last_layer();
    uint32_t joined = 0;
    Message m;
    while (joined + 1 < world_size_) {
        if (stopping()) return false;
        if (!receive(std::chrono::milliseconds(100), m)) continue;
        const Header &h = m.header;
        if (static_cast<Kind>(h.kind) != Kind::hello) broken("rank " + std::to_string(h.rank) + " sent a " + to_string(static_cast<Kind>(h.kind)) + " before hello");
        if (!routes_[h.rank].empty()) broken("rank " + std::to_string(h.rank) + " joined twice");
        const Hello hello = hello_of(m);
        if (hello.world_size != world_size_ || hello.n_embd != uint32_t(local_.n_embd()) || hello.n_vocab != n_vocab())
            broken("rank " + std::to_string(h.rank) + " runs another shape (world " + std::to_string(hello.world_size) +
                   ", n_embd " + std::to_string(hello.n_embd) + ", n_vocab " + std::to_string(hello.n_vocab) + ")");
        routes_[h.rank] = route_;
        hellos[h.rank] = hello;
        ++joined;
        log->info("pipeline rank {} joined from {} (layers {}..{})", h.rank, route_, hello.first_layer, hello.last_layer);
    }
    // The ranks' ranges must continue ours without gap or overlap up to the last layer.
    uint32_t expect = my_last + 1;
    for (uint32_t r = 1; r < world_size_; ++r) {
        if (hellos[r].first_layer != expect || hellos[r].last_layer < hellos[r].first_layer)
            broken("rank " + std::to_string(r) + " runs layers " + std::to_string(hellos[r].first_layer) + ".." +
                   std::to_string(hellos[r].last_layer) + ", expected to start at " + std::to_string(expect));
        expect = hellos[r].last_layer + 1;
    }
    if (expect != n_layer_total_)
        broken("the ranks run layers up to " + std::to_string(expect - 1) + " of " + std::to_string(n_layer_total_));
    return true;
}

HeadExecutor::Slot *HeadExecutor::find(uint64_t step) {
    for (size_t i = 0; i < count_; ++i) {
        Slot &s = ring_[(first_ + i) % ring_.size()];
        if (s.step == step) return &s;
    }
    return nullptr;
}

void HeadExecutor::submit(const engine::StepBatch &b) {
    if (count_ == ring_.size()) throw engine::EngineError(SKULK_E_INVALID, "the pipeline is full");
    const size_t width = static_cast<size_t>(local_.n_embd());
    local_.forward(engine::to_abi(b), hidden_.data(), b.token.size() * width); // throws EngineError: nothing sent, drops kept

    Slot &s = ring_[(first_ + count_) % ring_.size()];
    s.step = next_step_;
    s.pos.assign(b.pos.begin(), b.pos.end());
    s.seq.assign(b.seq.begin(), b.seq.end());
    s.want.assign(b.want.begin(), b.want.end());
    s.drops.swap(pending_drops_);
    pending_drops_.clear();
    s.n_out = b.n_out;
    if (!send_step(hub_, routes_[1], 1, s.step, s.n_out, s.pos, s.seq, s.want, s.drops,
                   {hidden_.data(), b.token.size() * width}, static_cast<uint32_t>(width)))
        broken("pipeline rank 1 cannot be reached");
    ++next_step_;
    ++count_;
}

bool HeadExecutor::next_result(std::chrono::milliseconds wait, std::span<const float> &logits) {
    if (count_ == 0) return false;
    const auto deadline = std::chrono::steady_clock::now() + wait;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (!receive(std::max(left, std::chrono::milliseconds(0)), result_)) {
            if (std::chrono::steady_clock::now() >= deadline) return false;
            continue;
        }
        const Header &h = result_.header;
        if (static_cast<Kind>(h.kind) != Kind::result)
            broken("rank " + std::to_string(h.rank) + " sent an unexpected " + to_string(static_cast<Kind>(h.kind)));
        Slot *s = find(h.step);
        if (!s) broken("rank " + std::to_string(h.rank) + " answered step " + std::to_string(h.step) + ", which is not in flight");
        const auto data = result_view(result_);
        if (h.rank + 1 < world_size_) {
            // Hidden states of every row: on to the next rank.
            if (h.width != uint32_t(local_.n_embd()) || data.size() != s->pos.size() * h.width)
                broken("rank " + std::to_string(h.rank) + " returned " + std::to_string(data.size()) + " floats for step " +
                       std::to_string(h.step));
            if (!send_step(hub_, routes_[h.rank + 1], h.rank + 1, s->step, s->n_out, s->pos, s->seq, s->want, s->drops,
                           data, h.width))
                broken("pipeline rank " + std::to_string(h.rank + 1) + " cannot be reached");
            continue;
        }
        // The last rank: logits, and in step order (every rank works FIFO).
        if (s != &ring_[first_]) broken("the last rank finished step " + std::to_string(h.step) + " out of order");
        if (h.width != n_vocab() || data.size() != size_t(s->n_out) * h.width)
            broken("the last rank returned " + std::to_string(data.size()) + " logits for " + std::to_string(s->n_out) + " rows");
        logits = data;
        first_ = (first_ + 1) % ring_.size();
        --count_;
        return true;
    }
}

void HeadExecutor::drop(uint32_t seq) {
    local_.seq_drop(seq, 0, -1);
    pending_drops_.push_back({seq, 0, -1});
}

} // namespace skulk::pipeline
