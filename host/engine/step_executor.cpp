#include "engine/step_executor.hpp"

namespace skulk::engine {

skulk_batch to_abi(const StepBatch &b) {
    skulk_batch sb{};
    sb.size = sizeof sb;
    sb.n_tokens = static_cast<uint32_t>(b.token.size());
    sb.token = b.token.data();
    sb.pos = b.pos.data();
    sb.seq_id = b.seq.data();
    sb.want_output = b.want.data();
    return sb;
}

LocalExecutor::LocalExecutor(ComputeSession &session)
    : session_(session), logits_(static_cast<size_t>(session.n_seq_max()) * static_cast<size_t>(session.n_vocab())) {}

void LocalExecutor::submit(const StepBatch &b) {
    if (pending_) throw EngineError(SKULK_E_INVALID, "a local step is already waiting to be collected");
    const size_t n_vocab = static_cast<size_t>(session_.n_vocab());
    if (size_t(b.n_out) * n_vocab > logits_.size()) logits_.resize(size_t(b.n_out) * n_vocab); // never per token: n_out <= n_seq_max
    session_.forward(to_abi(b), logits_.data(), size_t(b.n_out) * n_vocab);
    rows_ = b.n_out;
    pending_ = true;
}

bool LocalExecutor::next_result(std::chrono::milliseconds, std::span<const float> &logits) {
    if (!pending_) return false;
    pending_ = false;
    logits = {logits_.data(), rows_ * static_cast<size_t>(session_.n_vocab())};
    return true;
}

} // namespace skulk::engine
