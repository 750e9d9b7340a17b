// How a scheduler runs its batches: on a whole model in this process
// (LocalExecutor), or through a pipeline of runners on several nodes
// (pipeline::HeadExecutor). A step goes in with submit(); its logits come
// back from next_result() in submission order. Up to depth() steps may be in
// flight, so that a pipeline of W ranks keeps W micro-batches moving.
#pragma once

#include "engine/compute_session.hpp"

#include <chrono>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <vector>

namespace skulk::engine {

// The batch of one step (views into the caller's arrays, used only during submit()).
struct StepBatch {
    std::span<const int32_t> token;
    std::span<const int32_t> pos;
    std::span<const uint32_t> seq;
    std::span<const uint8_t> want; // rows whose logits come back, in batch order
    uint32_t n_out = 0;            // rows with want != 0
};
// The ABI batch of a step whose tokens go into an embedding range.
skulk_batch to_abi(const StepBatch &b);

// The model can no longer run anything (a pipeline rank is gone): every
// request in flight is lost and the runner must stop.
struct ExecutorBroken : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class StepExecutor {
public:
    virtual ~StepExecutor() = default;
    virtual uint32_t depth() const = 0;
    virtual size_t in_flight() const = 0;
    virtual uint32_t n_vocab() const = 0;
    virtual uint32_t n_ctx() const = 0;
    virtual uint32_t n_seq_max() const = 0;
    virtual uint32_t n_batch_max() const = 0;
    // Starts a step. Throws EngineError (this step failed; others are fine)
    // or ExecutorBroken.
    virtual void submit(const StepBatch &batch) = 0;
    // Waits up to `wait` for the oldest step; true when it is done, with its
    // logits (n_out x n_vocab, valid until the next call) in `logits`.
    // Throws like submit().
    virtual bool next_result(std::chrono::milliseconds wait, std::span<const float> &logits) = 0;
    // Forgets a sequence's KV on every rank before any later step.
    virtual void drop(uint32_t seq) = 0;
};

// The whole model in this process: a step is done when submit() returns.
class LocalExecutor final : public StepExecutor {
public:
    explicit LocalExecutor(ComputeSession &session);
    uint32_t depth() const override { return 1; }
    size_t in_flight() const override { return pending_ ? 1 : 0; }
    uint32_t n_vocab() const override { return static_cast<uint32_t>(session_.n_vocab()); }
    uint32_t n_ctx() const override { return session_.n_ctx(); }
    uint32_t n_seq_max() const override { return session_.n_seq_max(); }
    uint32_t n_batch_max() const override { return session_.n_batch_max(); }
    void submit(const StepBatch &batch) override;
    bool next_result(std::chrono::milliseconds wait, std::span<const float> &logits) override;
    void drop(uint32_t seq) override { session_.seq_drop(seq, 0, -1); }

private:
    ComputeSession &session_;
    std::vector<float> logits_; // n_seq_max rows: a step wants at most one row per sequence
    size_t rows_ = 0;
    bool pending_ = false;
};

} // namespace skulk::engine
