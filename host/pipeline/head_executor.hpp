// Rank 0 of a pipeline: the StepExecutor the scheduler drives when the
// model is split over several runners. It runs the first layer range here
// (embedding included), then sends the hidden states of the step to rank 1
// through its hub (a ROUTER every other rank connects to), relays each
// rank's output to the next one, and hands the last rank's logits back to
// the scheduler. Up to world_size steps are in flight, so while rank 1
// works on one micro-batch rank 0 already computes the next.
//
// Any rank's connection dropping, an error message from a rank, or a
// message that breaks the format throws engine::ExecutorBroken: the KV
// caches of the ranks no longer agree, so the instance cannot go on.
#pragma once

#include "common/curve.hpp"
#include "engine/step_executor.hpp"
#include "pipeline/frame.hpp"
#include "pipeline/peer_watch.hpp"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace skulk::pipeline {

class HeadExecutor final : public engine::StepExecutor {
public:
    // Binds a hub at `listen` (e.g. "tcp://10.0.0.5:*") before the model
    // loads, so the other ranks can start loading at once; `endpoint` gets
    // the bound address they connect to. With keys (a cluster secret) the
    // hub speaks CURVE only. Throws naming `listen`.
    static zmq::socket_t bind_hub(zmq::context_t &ctx, const std::string &listen, std::string &endpoint,
                                  const std::optional<cluster::CurveKeys> &keys);

    // `local`: this process's range (SKULK_RANGE_EMBED, not HEAD).
    HeadExecutor(zmq::context_t &ctx, zmq::socket_t hub, engine::ComputeSession &local, uint32_t world_size,
                 uint32_t n_layer_total);
    ~HeadExecutor() override; // tells every rank "bye"
    // Blocks until ranks 1..world_size-1 said hello with layer ranges that
    // continue this one in order. Throws ExecutorBroken on a bad hello or a
    // lost rank; returns false when `stopping()` turned true first.
    bool wait_for_ranks(const std::function<bool()> &stopping);

    uint32_t depth() const override { return world_size_; }
    size_t in_flight() const override { return count_; }
    uint32_t n_vocab() const override { return static_cast<uint32_t>(local_.n_vocab()); }
    uint32_t n_ctx() const override { return local_.n_ctx(); }
    uint32_t n_seq_max() const override { return local_.n_seq_max(); }
    uint32_t n_batch_max() const override { return local_.n_batch_max(); }
    void submit(const engine::StepBatch &batch) override;
    bool next_result(std::chrono::milliseconds wait, std::span<const float> &logits) override;
    void drop(uint32_t seq) override;

private:
    // A step between ranks: what every rank needs besides the hidden states.
    struct Slot {
        uint64_t step = 0;
        std::vector<int32_t> pos;
        std::vector<uint32_t> seq;
        std::vector<uint8_t> want;
        std::vector<Drop> drops;
        uint32_t n_out = 0;
    };
    Slot *find(uint64_t step);
    // Receives one message or a disconnect within `wait`; false on timeout.
    bool receive(std::chrono::milliseconds wait, Message &m);
    [[noreturn]] void broken(const std::string &why);

    engine::ComputeSession &local_;
    const uint32_t world_size_, n_layer_total_;
    zmq::socket_t hub_;
    std::unique_ptr<PeerWatch> watch_;
    std::vector<std::string> routes_; // ROUTER identity of rank r (index r)
    std::vector<Slot> ring_;
    size_t first_ = 0, count_ = 0;
    uint64_t next_step_ = 0;
    std::vector<Drop> pending_drops_;
    std::vector<float> hidden_;       // rank 0's output, n_batch_max x n_embd
    Message result_;                  // the last rank's logits, kept alive for the caller
    std::string route_;
};

} // namespace skulk::pipeline
