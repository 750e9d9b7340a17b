#include "model_llama.hpp"

#include "norm.hpp"

#include <skulk/plugin.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>

namespace skulk::cpu {

namespace {

[[noreturn]] void invalid(const std::string &msg) { throw status_error(SKULK_E_INVALID, msg); }

Hyper hyper_from(const skulk_model_params &p) {
    Hyper h;
    h.arch = std::string(view(p.arch));
    if (h.arch != "llama" && h.arch != "qwen2" && h.arch != "qwen3")
        throw status_error(SKULK_E_UNSUPPORTED,
                           "architecture '" + h.arch + "' is not supported by cpu_blas (supported: llama, qwen2, qwen3)");
    h.n_layer = static_cast<int>(p.n_layer);
    h.n_embd = static_cast<int>(p.n_embd);
    h.n_head = static_cast<int>(p.n_head);
    h.n_head_kv = static_cast<int>(p.n_head_kv ? p.n_head_kv : p.n_head);
    h.head_dim_k = static_cast<int>(p.head_dim_k ? p.head_dim_k : (p.n_head ? p.n_embd / p.n_head : 0));
    h.head_dim_v = static_cast<int>(p.head_dim_v ? p.head_dim_v : h.head_dim_k);
    h.n_ff = static_cast<int>(p.n_ff);
    h.n_vocab = static_cast<int>(p.n_vocab);
    h.rms_eps = p.rms_eps > 0 ? p.rms_eps : 1e-5f;
    if (h.n_layer <= 0 || h.n_embd <= 0 || h.n_head <= 0 || h.n_ff <= 0 || h.n_vocab <= 0 || h.head_dim_k <= 0)
        invalid("model params: n_layer, n_embd, n_head, n_ff, n_vocab and head_dim must be positive");
    if (h.n_head % h.n_head_kv != 0)
        invalid("model params: n_head (" + std::to_string(h.n_head) + ") is not a multiple of n_head_kv (" +
                std::to_string(h.n_head_kv) + ")");
    return h;
}

RopeConfig rope_from(const skulk_model_params &p, const Hyper &h, const std::vector<float> &rope_freqs) {
    RopeConfig c;
    c.n_rot = static_cast<int>(p.n_rot ? p.n_rot : static_cast<uint32_t>(h.head_dim_k));
    if (c.n_rot > h.head_dim_k || c.n_rot % 2) invalid("model params: n_rot must be even and <= head_dim_k");
    c.type = p.rope_type == SKULK_ROPE_NEOX ? 2 : 0;
    c.freq_base = p.rope_freq_base > 0 ? p.rope_freq_base : 10000.0f;
    c.freq_scale = p.rope_freq_scale > 0 ? p.rope_freq_scale : 1.0f;
    c.n_ctx_orig = static_cast<int>(p.rope_scaling_orig_ctx ? p.rope_scaling_orig_ctx : p.n_ctx_train);
    c.attn_factor = p.rope_yarn_attn_factor > 0 ? p.rope_yarn_attn_factor : 1.0f;
    c.beta_fast = p.rope_yarn_beta_fast > 0 ? p.rope_yarn_beta_fast : 32.0f;
    c.beta_slow = p.rope_yarn_beta_slow > 0 ? p.rope_yarn_beta_slow : 1.0f;
    switch (p.rope_scaling) {
    case SKULK_ROPE_SCALING_YARN:
        c.ext_factor = p.rope_yarn_ext_factor > 0 ? p.rope_yarn_ext_factor : 1.0f;
        if (p.rope_freq_scale <= 0 && p.rope_scaling_factor > 0) c.freq_scale = 1.0f / p.rope_scaling_factor;
        break;
    case SKULK_ROPE_SCALING_LINEAR:
        if (p.rope_freq_scale <= 0 && p.rope_scaling_factor > 0) c.freq_scale = 1.0f / p.rope_scaling_factor;
        break;
    case SKULK_ROPE_SCALING_LLAMA3:
        // Llama-3 scales per frequency through the divisors; positions are not scaled.
        c.freq_scale = 1.0f;
        if (rope_freqs.empty())
            c.freq_factors = llama3_freq_factors(c.n_rot, c.freq_base, p.rope_scaling_factor,
                                                 p.rope_llama3_low_freq_factor > 0 ? p.rope_llama3_low_freq_factor : 1.0f,
                                                 p.rope_llama3_high_freq_factor > 0 ? p.rope_llama3_high_freq_factor : 4.0f,
                                                 c.n_ctx_orig);
        break;
    default: break;
    }
    if (!rope_freqs.empty()) {
        if (static_cast<int>(rope_freqs.size()) < c.n_rot / 2) invalid("tensor rope_freqs.weight has fewer than n_rot/2 values");
        c.freq_factors = rope_freqs;
    }
    return c;
}

template <class T>
void ensure(std::vector<T> &v, size_t n, uint64_t &total) {
    v.assign(n, T{});
    total += n * sizeof(T);
}

} // namespace

LlamaModel::LlamaModel(const skulk_model_params &params, uint32_t first, uint32_t last, uint32_t range_flags,
                       std::span<const skulk_tensor> tensors, const EngineOptions &opts)
    : h_(hyper_from(params)), first_(first), last_(last), flags_(range_flags), opts_(opts),
      weights_([&] {
          if (first > last || last >= static_cast<uint32_t>(h_.n_layer))
              invalid("layer range [" + std::to_string(first) + ", " + std::to_string(last) + "] is not within the model's " +
                      std::to_string(h_.n_layer) + " layers");
          return load_weights(h_, first, last, range_flags, tensors);
      }()),
      rope_(rope_from(params, h_, weights_.rope_freqs)),
      attn_{h_.n_head, h_.n_head_kv, h_.head_dim_k, h_.head_dim_v, 1.0f / std::sqrt(static_cast<float>(h_.head_dim_k))},
      kv_(static_cast<int>(last - first + 1), opts.n_seq_max, opts.n_ctx, h_.n_head_kv, h_.head_dim_k, h_.head_dim_v,
          opts.kv_type),
      pool_(opts.n_threads) {
    const size_t B = static_cast<size_t>(opts_.n_batch_max);
    ensure(x_, B * h_.n_embd, scratch_bytes_);
    ensure(cur_, B * h_.n_embd, scratch_bytes_);
    ensure(tmp_, B * h_.n_embd, scratch_bytes_);
    ensure(q_, B * h_.q_dim(), scratch_bytes_);
    ensure(k_, B * h_.k_dim(), scratch_bytes_);
    ensure(v_, B * h_.v_dim(), scratch_bytes_);
    ensure(attn_out_, B * h_.attn_out_dim(), scratch_bytes_);
    ensure(gate_, B * h_.n_ff, scratch_bytes_);
    ensure(up_, B * h_.n_ff, scratch_bytes_);
    ensure(rope_cs_, B * rope_.n_rot(), scratch_bytes_);
    ensure(attn_scratch_, static_cast<size_t>(pool_.size()) * attention_scratch_floats(attn_, opts_.n_ctx), scratch_bytes_);
    ensure(attn_part_, static_cast<size_t>(max_attn_items()) * attn_.n_rep() * h_.head_dim_v, scratch_bytes_);
    ensure(attn_ms_, static_cast<size_t>(max_attn_items()) * attn_.n_rep() * 2, scratch_bytes_);
    out_rows_.reserve(B);

    // One quantized-activation buffer per (weight type, input width).
    auto need = [&](const PackedMatrix *w, int64_t cols) {
        if (!w) return;
        for (const auto &s : slots_)
            if (s.type == type(*w) && s.cols == cols) return;
        const size_t per = quantized_activation_bytes(type(*w), cols, 1);
        // Threads quantize disjoint token ranges into one buffer: that needs
        // the kernels' layout to be token-major with a fixed size per token.
        if (quantized_activation_bytes(type(*w), cols, static_cast<int>(B)) != per * B)
            throw status_error(SKULK_E_INTERNAL, "kernels: quantized activations are not token-major");
        QuantSlot s{type(*w), cols, per, {}};
        ensure(s.buf, quantized_activation_bytes(type(*w), cols, static_cast<int>(B)), scratch_bytes_);
        slots_.push_back(std::move(s));
    };
    for (const auto &L : weights_.layers) {
        for (const auto *w : {L.wq.get(), L.wk.get(), L.wv.get(), L.w_gate.get(), L.w_up.get()}) need(w, h_.n_embd);
        need(L.wo.get(), h_.attn_out_dim());
        need(L.w_down.get(), h_.n_ff);
    }
    need(weights_.output.get(), h_.n_embd);
}

LlamaModel::QuantSlot &LlamaModel::slot(uint32_t t, int64_t cols) {
    for (auto &s : slots_)
        if (s.type == t && s.cols == cols) return s;
    throw status_error(SKULK_E_INTERNAL, "no activation buffer for a weight type"); // sized at construction
}

void LlamaModel::quantize_rows(const float *x, int64_t cols, int t0, int t1,
                               std::initializer_list<const PackedMatrix *> ws) {
    if (t1 <= t0) return;
    uint32_t done[4];
    int n_done = 0;
    for (const PackedMatrix *w : ws) {
        const uint32_t t = type(*w);
        if (std::find(done, done + n_done, t) != done + n_done) continue;
        if (n_done < 4) done[n_done++] = t;
        QuantSlot &s = slot(t, cols);
        quantize_activations(t, x + static_cast<int64_t>(t0) * cols, cols, t1 - t0, s.buf.data() + t0 * s.bytes_per_token);
    }
}

const void *LlamaModel::quantized(const PackedMatrix &w, int64_t cols) { return slot(type(w), cols).buf.data(); }

void LlamaModel::matmuls(int n_tokens, int64_t cols, std::initializer_list<MatJob> jobs) {
    // Each matrix is cut into a few row chunks (whole panels) that the
    // threads claim from a shared counter, so a thread that streams slower
    // (DRAM contention, or preempted on a busy machine) leaves its remaining
    // chunks to the others instead of holding up the barrier. Chunks stay big
    // (>= kPanelsPerChunk panels, <= kChunksPerThread per thread and matrix)
    // so each claim (one atomic on a shared line) is rare.
    constexpr int64_t kPanelsPerChunk = 8, kChunksPerThread = 2;
    const void *qx[4];
    int chunks[4], first[5];
    int j = 0, total = 0;
    int64_t work = 0;
    for (const MatJob &m : jobs) {
        qx[j] = quantized(*m.w, cols);
        const int64_t align = static_cast<int64_t>(row_align(*m.w));
        const int64_t panels = (rows(*m.w) + align - 1) / align;
        chunks[j] = static_cast<int>(std::clamp<int64_t>(panels / kPanelsPerChunk, 1, kChunksPerThread * pool_.size()));
        first[j] = total;
        total += chunks[j];
        work += rows(*m.w) * cols * n_tokens;
        ++j;
    }
    first[j] = total;
    next_chunk_.store(0, std::memory_order_relaxed); // published by the pool's dispatch
    pool_.run([&](int, int) {
        for (int c; (c = next_chunk_.fetch_add(1, std::memory_order_relaxed)) < total;) {
            int jj = 0;
            while (c >= first[jj + 1]) ++jj;
            const MatJob &m = jobs.begin()[jj];
            const Range r = split_range(rows(*m.w), c - first[jj], chunks[jj], static_cast<int64_t>(row_align(*m.w)));
            if (r.begin < r.end) matmul(*m.w, qx[jj], n_tokens, m.y, m.ldy, r.begin, r.end);
        }
    }, work);
}

void LlamaModel::validate(const skulk_batch &b, size_t out_cap) const {
    if (b.size < offsetof(skulk_batch, want_output) + sizeof(b.want_output)) invalid("batch: struct size too small");
    if (b.n_tokens == 0) invalid("batch: n_tokens is 0");
    if (b.n_tokens > static_cast<uint32_t>(opts_.n_batch_max))
        invalid("batch: n_tokens " + std::to_string(b.n_tokens) + " exceeds n_batch_max " + std::to_string(opts_.n_batch_max));
    if (!b.pos || !b.seq_id) invalid("batch: pos and seq_id are required");
    if ((flags_ & SKULK_RANGE_EMBED) && !b.token) invalid("batch: token ids are required by an EMBED range");
    if (!(flags_ & SKULK_RANGE_EMBED) && !b.embd) invalid("batch: hidden states (embd) are required by a non-EMBED range");
    size_t n_out = b.n_tokens;
    for (uint32_t i = 0; i < b.n_tokens; ++i) {
        if (b.pos[i] < 0 || b.pos[i] >= opts_.n_ctx)
            invalid("batch: pos[" + std::to_string(i) + "] = " + std::to_string(b.pos[i]) + " is outside the context [0, " +
                    std::to_string(opts_.n_ctx) + ")");
        if (b.seq_id[i] >= static_cast<uint32_t>(opts_.n_seq_max))
            invalid("batch: seq_id[" + std::to_string(i) + "] = " + std::to_string(b.seq_id[i]) + " >= n_seq_max " +
                    std::to_string(opts_.n_seq_max));
        if ((flags_ & SKULK_RANGE_EMBED) && (b.token[i] < 0 || b.token[i] >= h_.n_vocab))
            invalid("batch: token[" + std::to_string(i) + "] = " + std::to_string(b.token[i]) + " is outside the vocabulary of " +
                    std::to_string(h_.n_vocab));
    }
    size_t need;
    if (flags_ & SKULK_RANGE_HEAD) {
        if (b.want_output) {
            n_out = 0;
            for (uint32_t i = 0; i < b.n_tokens; ++i) n_out += b.want_output[i] != 0;
        }
        need = n_out * static_cast<size_t>(h_.n_vocab);
    } else {
        need = static_cast<size_t>(b.n_tokens) * h_.n_embd;
    }
    if (out_cap < need)
        invalid("forward: output buffer holds " + std::to_string(out_cap) + " floats, " + std::to_string(need) + " needed");
}

void LlamaModel::forward(const skulk_batch &b, float *out, size_t out_cap) {
    validate(b, out_cap);
    const int n = static_cast<int>(b.n_tokens);
    const int E = h_.n_embd;
    n_tok_ = n;
    // However forward() ends, the workers sleep at once instead of spinning
    // for a next op that will not come soon (pipeline ranks share cores).
    struct Park {
        ThreadPool &p;
        ~Park() { p.park(); }
    } park{pool_};

    pool_.run([&](int i, int nth) {
        const Range r = split_range(n, i, nth);
        for (int64_t t = r.begin; t < r.end; ++t) {
            if (flags_ & SKULK_RANGE_EMBED) {
                const skulk_tensor &te = *weights_.token_embd;
                dequantize_row(te.gguf_type, static_cast<const uint8_t *>(te.data) + te.nb[1] * b.token[t], &x_[t * E], E);
            } else {
                std::memcpy(&x_[t * E], b.embd + t * E, E * sizeof(float));
            }
            rope_.angles(b.pos[t], &rope_cs_[t * rope_.n_rot()]);
        }
    }, static_cast<int64_t>(n) * E * 2);
    attn_work_ = 0;
    for (int t = 0; t < n; ++t) {
        kv_.mark(b.seq_id[t], b.pos[t]);
        attn_work_ += static_cast<int64_t>(b.pos[t] + 1) * h_.n_head * (h_.head_dim_k + h_.head_dim_v);
    }

    attn_split_ = attention_split(b);
    for (int li = 0; li <= static_cast<int>(last_ - first_); ++li) layer(li, b);

    if (flags_ & SKULK_RANGE_HEAD) {
        head(b, out);
    } else {
        pool_.run([&](int i, int nth) {
            const Range r = split_range(n, i, nth);
            for (int64_t t = r.begin; t < r.end; ++t) {
                add_inplace(&x_[t * E], &tmp_[t * E], E);
                std::memcpy(out + t * E, &x_[t * E], E * sizeof(float));
            }
        }, static_cast<int64_t>(n) * E * 2);
    }
}

void LlamaModel::layer(int li, const skulk_batch &b) {
    const LayerWeights &L = weights_.layers[li];
    const int n = n_tok_, E = h_.n_embd, F = h_.n_ff;
    const int qd = h_.q_dim(), kd = h_.k_dim(), vd = h_.v_dim(), ao = h_.attn_out_dim();
    const int dk = h_.head_dim_k;
    const bool residual_pending = li > 0; // the previous layer's ffn_down output waits in tmp_

    // 1. attention norm (after the pending residual) and activation quantization
    pool_.run([&](int i, int nth) {
        const Range r = split_range(n, i, nth);
        for (int64_t t = r.begin; t < r.end; ++t) {
            if (residual_pending) add_inplace(&x_[t * E], &tmp_[t * E], E);
            rms_norm(&x_[t * E], L.attn_norm.data(), &cur_[t * E], E, h_.rms_eps);
        }
        quantize_rows(cur_.data(), E, static_cast<int>(r.begin), static_cast<int>(r.end), {L.wq.get(), L.wk.get(), L.wv.get()});
    }, static_cast<int64_t>(n) * E * 4);
    // 2. q, k, v projections
    matmuls(n, E, {{L.wq.get(), q_.data(), qd}, {L.wk.get(), k_.data(), kd}, {L.wv.get(), v_.data(), vd}});
    // 3. biases, q/k norms, RoPE, KV store
    pool_.run([&](int i, int nth) {
        const Range r = split_range(n, i, nth);
        for (int64_t t = r.begin; t < r.end; ++t) {
            float *q = &q_[t * qd], *k = &k_[t * kd], *v = &v_[t * vd];
            if (!L.bq.empty()) add_inplace(q, L.bq.data(), qd);
            if (!L.bk.empty()) add_inplace(k, L.bk.data(), kd);
            if (!L.bv.empty()) add_inplace(v, L.bv.data(), vd);
            const float *cs = &rope_cs_[t * rope_.n_rot()];
            for (int hh = 0; hh < h_.n_head; ++hh) {
                if (!L.q_norm.empty()) rms_norm(q + hh * dk, L.q_norm.data(), q + hh * dk, dk, h_.rms_eps);
                rope_.apply(q + hh * dk, cs);
            }
            for (int hh = 0; hh < h_.n_head_kv; ++hh) {
                if (!L.k_norm.empty()) rms_norm(k + hh * dk, L.k_norm.data(), k + hh * dk, dk, h_.rms_eps);
                rope_.apply(k + hh * dk, cs);
            }
            kv_.store(li, b.seq_id[t], b.pos[t], k, v);
        }
    }, static_cast<int64_t>(n) * (qd + kd + vd) * 4);
    // 4. attention, one (token, kv head, key chunk) per work item
    const int nkv = h_.n_head_kv, n_rep = attn_.n_rep(), split = attn_split_;
    const int dv = h_.head_dim_v;
    const int64_t per_thread = attention_scratch_floats(attn_, opts_.n_ctx);
    pool_.run([&](int i, int nth) {
        const Range r = split_range(static_cast<int64_t>(n) * nkv * split, i, nth);
        float *scratch = &attn_scratch_[i * per_thread];
        for (int64_t item = r.begin; item < r.end; ++item) {
            const int c = static_cast<int>(item % split);
            const int64_t t = item / split / nkv;
            const int kvh = static_cast<int>(item / split % nkv);
            const int n_keys = b.pos[t] + 1;
            const float *qg = &q_[t * qd + static_cast<int64_t>(kvh) * n_rep * dk];
            if (split == 1) {
                attend(kv_, li, attn_, b.seq_id[t], kvh, 0, n_keys, qg, &attn_out_[t * ao + kvh * n_rep * dv], nullptr,
                       scratch);
            } else {
                const int len = (n_keys + split - 1) / split;
                const int j0 = std::min(n_keys, c * len), j1 = std::min(n_keys, j0 + len);
                attend(kv_, li, attn_, b.seq_id[t], kvh, j0, j1, qg, &attn_part_[item * n_rep * dv],
                       &attn_ms_[item * n_rep * 2], scratch);
            }
        }
    }, attn_work_);
    // 5. merge split attention, output projection
    pool_.run([&](int i, int nth) {
        const Range r = split_range(n, i, nth);
        if (split > 1)
            for (int64_t t = r.begin; t < r.end; ++t)
                for (int kvh = 0; kvh < nkv; ++kvh) {
                    const int64_t item0 = (t * nkv + kvh) * split;
                    attention_merge(attn_, split, &attn_part_[item0 * n_rep * dv], &attn_ms_[item0 * n_rep * 2],
                                    &attn_out_[t * ao + kvh * n_rep * dv]);
                }
        quantize_rows(attn_out_.data(), ao, static_cast<int>(r.begin), static_cast<int>(r.end), {L.wo.get()});
    }, static_cast<int64_t>(n) * ao * (4 + split));
    matmuls(n, ao, {{L.wo.get(), tmp_.data(), E}});
    // 6. residual, ffn norm, quantization
    pool_.run([&](int i, int nth) {
        const Range r = split_range(n, i, nth);
        for (int64_t t = r.begin; t < r.end; ++t) {
            add_inplace(&x_[t * E], &tmp_[t * E], E);
            rms_norm(&x_[t * E], L.ffn_norm.data(), &cur_[t * E], E, h_.rms_eps);
        }
        quantize_rows(cur_.data(), E, static_cast<int>(r.begin), static_cast<int>(r.end), {L.w_gate.get(), L.w_up.get()});
    }, static_cast<int64_t>(n) * E * 4);
    // 7. SwiGLU feed-forward; its output stays in tmp_ until the next residual add
    matmuls(n, E, {{L.w_gate.get(), gate_.data(), F}, {L.w_up.get(), up_.data(), F}});
    pool_.run([&](int i, int nth) {
        const Range r = split_range(n, i, nth);
        for (int64_t t = r.begin; t < r.end; ++t) swiglu(&gate_[t * F], &up_[t * F], F);
        quantize_rows(gate_.data(), F, static_cast<int>(r.begin), static_cast<int>(r.end), {L.w_down.get()});
    }, static_cast<int64_t>(n) * F * 8);
    matmuls(n, F, {{L.w_down.get(), tmp_.data(), E}});
}

// Key chunks per (token, kv head): 1 unless the batch has too few
// (token, kv head) items to give every thread several (a decode step of one
// or two sequences) and enough keys that splitting repays the merge.
int LlamaModel::attention_split(const skulk_batch &b) const {
    const int nth = pool_.size();
    const int64_t items = static_cast<int64_t>(b.n_tokens) * h_.n_head_kv;
    if (nth == 1 || attn_work_ < ThreadPool::kMinParallelWork || items >= 4 * nth) return 1;
    int max_keys = 0;
    for (uint32_t t = 0; t < b.n_tokens; ++t) max_keys = std::max(max_keys, b.pos[t] + 1);
    constexpr int kMinChunk = 64; // keys
    const int64_t cap = std::min<int64_t>(max_attn_items() / items, std::max(1, max_keys / kMinChunk));
    int64_t split = std::min<int64_t>((8 * nth + items - 1) / items, cap);
    while ((items * split) % nth && split < cap) ++split; // equal shares per thread
    return static_cast<int>(std::max<int64_t>(1, split));
}

void LlamaModel::head(const skulk_batch &b, float *out) {
    const int n = n_tok_, E = h_.n_embd;
    out_rows_.clear();
    for (int t = 0; t < n; ++t)
        if (!b.want_output || b.want_output[t]) out_rows_.push_back(t);
    const int n_out = static_cast<int>(out_rows_.size());
    if (n_out == 0) return;
    pool_.run([&](int i, int nth) {
        const Range r = split_range(n_out, i, nth);
        for (int64_t j = r.begin; j < r.end; ++j) {
            const int64_t t = out_rows_[j];
            add_inplace(&x_[t * E], &tmp_[t * E], E);
            rms_norm(&x_[t * E], weights_.output_norm.data(), &cur_[j * E], E, h_.rms_eps);
        }
        quantize_rows(cur_.data(), E, static_cast<int>(r.begin), static_cast<int>(r.end), {weights_.output.get()});
    }, static_cast<int64_t>(n_out) * E * 4);
    matmuls(n_out, E, {{weights_.output.get(), out, h_.n_vocab}});
}

} // namespace skulk::cpu
