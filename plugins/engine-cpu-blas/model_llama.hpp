// The llama-family layer graph (llama, qwen2, qwen3) over one layer range:
//   x = embed(token) | hidden in
//   per layer: h = x + Wo . attn(rope(Wq n(x) + bq), rope(Wk n(x) + bk), Wv n(x) + bv)
//              x = h + Wdown . (silu(Wgate n(h)) * Wup n(h))
//   head: logits = Wout . n(x)
// qwen2 adds q/k/v biases, qwen3 RMS-normalises each q/k head before RoPE.
// All scratch is sized at construction from n_batch_max and n_ctx: forward()
// allocates nothing.
#pragma once

#include "attention.hpp"
#include "kv_cache.hpp"
#include "rope.hpp"
#include "thread_pool.hpp"
#include "weights.hpp"

#include <skulk/abi.h>

#include <atomic>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace skulk::cpu {

struct EngineOptions {
    unsigned n_threads = 0;
    int n_ctx = 0;
    int n_seq_max = 1;
    int n_batch_max = 512;
    KvType kv_type = KvType::f16;
};

class LlamaModel {
public:
    LlamaModel(const skulk_model_params &params, uint32_t first, uint32_t last, uint32_t range_flags,
               std::span<const skulk_tensor> tensors, const EngineOptions &opts);

    // Throws status_error(SKULK_E_INVALID, reason) on a bad batch.
    void forward(const skulk_batch &batch, float *out, size_t out_cap);
    KvCache &kv() { return kv_; }

    uint64_t weights_bytes() const { return weights_.bytes; }
    uint64_t kv_bytes() const { return kv_.bytes(); }
    uint64_t scratch_bytes() const { return scratch_bytes_; }
    int n_threads() const { return pool_.size(); }

private:
    // Quantized copies of one input (rows of `cols` floats) for each weight
    // type that consumes it, made once and reused by every matrix of that type.
    struct QuantSlot {
        uint32_t type;
        int64_t cols;
        size_t bytes_per_token;
        std::vector<uint8_t> buf;
    };
    struct MatJob {
        const PackedMatrix *w;
        float *y;
        int64_t ldy;
    };

    void validate(const skulk_batch &b, size_t out_cap) const;
    QuantSlot &slot(uint32_t type, int64_t cols);
    // Within a pool job: quantize rows [t0, t1) of x for the given matrices.
    void quantize_rows(const float *x, int64_t cols, int t0, int t1, std::initializer_list<const PackedMatrix *> ws);
    const void *quantized(const PackedMatrix &w, int64_t cols);
    // One pool run: every thread computes its row share of every job.
    void matmuls(int n_tokens, int64_t cols, std::initializer_list<MatJob> jobs);
    void layer(int il, const skulk_batch &b);
    void head(const skulk_batch &b, float *out);
    int attention_split(const skulk_batch &b) const;
    int max_attn_items() const { return 16 * pool_.size(); }

    Hyper h_;
    uint32_t first_, last_, flags_;
    EngineOptions opts_;
    Weights weights_;
    Rope rope_;
    AttentionShape attn_;
    KvCache kv_;
    ThreadPool pool_;
    int n_tok_ = 0;          // tokens of the batch in flight
    int64_t attn_work_ = 0;  // multiply-adds of its attention (parallel or not)

    // scratch (n_batch_max rows each)
    std::vector<float> x_, cur_, q_, k_, v_, attn_out_, tmp_, gate_, up_, rope_cs_, attn_scratch_;
    // Partial attention results when one token's keys are split between
    // threads (decode of few sequences): max_attn_items() x n_rep x (dv | 2).
    std::vector<float> attn_part_, attn_ms_;
    int attn_split_ = 1; // key chunks per (token, kv head) of the batch in flight
    alignas(64) std::atomic<int> next_chunk_{0}; // matmuls(): next row chunk to claim
    std::vector<int> out_rows_; // batch rows whose logits are wanted
    std::vector<QuantSlot> slots_;
    uint64_t scratch_bytes_ = 0;
};

} // namespace skulk::cpu
