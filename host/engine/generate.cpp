#include "engine/generate.hpp"

#include "sampling/sampler.hpp"

#include <algorithm>
#include <chrono>

namespace skulk::engine {

GenerationResult generate(ComputeSession &s, std::span<const int32_t> prompt, const GenerationParams &p) {
    using clock = std::chrono::steady_clock;
    const uint32_t need = SKULK_RANGE_EMBED | SKULK_RANGE_HEAD;
    if ((s.range_flags() & need) != need) throw EngineError(SKULK_E_INVALID, "generate: the session must hold the whole model");
    if (prompt.empty()) throw EngineError(SKULK_E_INVALID, "generate: the prompt has no tokens");
    const int n_ctx = static_cast<int>(s.n_ctx());
    if (static_cast<int>(prompt.size()) > n_ctx)
        throw EngineError(SKULK_E_INVALID, "generate: the prompt has " + std::to_string(prompt.size()) +
                                               " tokens, more than the context of " + std::to_string(n_ctx));
    const int n_vocab = s.n_vocab();
    const int B = static_cast<int>(s.n_batch_max());
    auto wanted = [&](int32_t pos) { return std::find(p.logits_at.begin(), p.logits_at.end(), pos) != p.logits_at.end(); };

    GenerationResult r;
    r.n_prompt = static_cast<int>(prompt.size());
    s.seq_drop(p.seq_id, 0, -1);

    // All buffers once, up front: the decode loop allocates nothing.
    std::vector<int32_t> tok(B), pos(B);
    std::vector<uint32_t> seq(B, p.seq_id);
    std::vector<uint8_t> want(B);
    std::vector<float> out(static_cast<size_t>(B) * n_vocab);
    r.tokens.reserve(std::max(p.n_predict, 0));
    skulk_batch b{};
    b.size = sizeof b;
    b.token = tok.data();
    b.pos = pos.data();
    b.seq_id = seq.data();
    b.want_output = want.data();

    auto keep = [&](int32_t at, const float *row) { r.logits.push_back({at, std::vector<float>(row, row + n_vocab)}); };

    // Prefill
    const auto t0 = clock::now();
    const float *last_row = nullptr;
    for (int start = 0; start < r.n_prompt; start += B) {
        const int n = std::min(B, r.n_prompt - start);
        int n_out = 0;
        for (int i = 0; i < n; ++i) {
            tok[i] = prompt[start + i];
            pos[i] = start + i;
            want[i] = (start + i == r.n_prompt - 1) || wanted(start + i);
            n_out += want[i];
        }
        b.n_tokens = static_cast<uint32_t>(n);
        s.forward(b, out.data(), static_cast<size_t>(n_out) * n_vocab);
        int row = 0;
        for (int i = 0; i < n; ++i) {
            if (!want[i]) continue;
            const float *lr = out.data() + static_cast<size_t>(row++) * n_vocab;
            if (wanted(start + i)) keep(start + i, lr);
            if (start + i == r.n_prompt - 1) last_row = lr;
        }
    }
    const auto t1 = clock::now();
    r.prefill_seconds = std::chrono::duration<double>(t1 - t0).count();

    // Decode
    int32_t cur_pos = r.n_prompt; // position of the next token to feed
    r.stop_reason = "length";
    for (int k = 0; k < p.n_predict; ++k) {
        const std::span<const float> logits(last_row, n_vocab);
        const int32_t next = p.sample ? p.sample(logits) : model::argmax(logits);
        r.tokens.push_back(next);
        if (p.on_token && !p.on_token(next)) { r.stop_reason = "callback"; break; }
        if (std::find(p.stop_tokens.begin(), p.stop_tokens.end(), next) != p.stop_tokens.end()) { r.stop_reason = "stop_token"; break; }
        if (k + 1 == p.n_predict) break;
        if (cur_pos >= n_ctx) { r.stop_reason = "context"; break; }
        tok[0] = next;
        pos[0] = cur_pos;
        want[0] = 1;
        b.n_tokens = 1;
        s.forward(b, out.data(), static_cast<size_t>(n_vocab));
        last_row = out.data();
        if (wanted(cur_pos)) keep(cur_pos, last_row);
        ++cur_pos;
    }
    r.decode_seconds = std::chrono::duration<double>(clock::now() - t1).count();
    return r;
}

} // namespace skulk::engine
