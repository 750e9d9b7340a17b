// The key/value cache of one engine instance: for each local layer and each
// sequence, n_ctx slots addressed by position, in F16 (default), BF16 or F32.
// A slot is "present" once a token was stored at that position and until
// seq_drop forgets it; attention of a token at position p reads the present
// slots [0, p] of its own sequence (the causal mask).
//
// Layout: [layer][seq][kv head][position][head dim]. Attention reads one KV
// head of one sequence at a time, so each of its key and value streams is one
// contiguous run (sequential for the hardware prefetcher, whole cache lines),
// rather than a slice out of every position's row.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

namespace skulk::cpu {

enum class KvType { f16 = 0, f32 = 1, bf16 = 2 };

class KvCache {
public:
    KvCache(int n_layer, int n_seq, int n_ctx, int n_head_kv, int64_t head_dim_k, int64_t head_dim_v, KvType type);

    int n_ctx() const { return n_ctx_; }
    int n_seq() const { return n_seq_; }
    KvType type() const { return type_; }
    size_t bytes() const { return k_bytes_ + v_bytes_ + present_.size(); }

    // Mark positions present before the layers store into them.
    void mark(uint32_t seq, int32_t pos) { present_[index(seq, pos)] = 1; }
    bool present(uint32_t seq, int32_t pos) const { return present_[index(seq, pos)] != 0; }
    const uint8_t *present_row(uint32_t seq) const { return &present_[static_cast<size_t>(seq) * n_ctx_]; }

    // Store one token's k (n_head_kv x head_dim_k floats) and v (n_head_kv x head_dim_v).
    void store(int layer, uint32_t seq, int32_t pos, const float *k, const float *v);
    // One head's key (value) at pos, elements of type(); the next position of
    // the same head is k_head_bytes() (v_head_bytes()) further on.
    const void *k_head(int layer, uint32_t seq, int kv_head, int32_t pos) const {
        return &k_[offset(layer, seq, kv_head, pos, hk_)];
    }
    const void *v_head(int layer, uint32_t seq, int kv_head, int32_t pos) const {
        return &v_[offset(layer, seq, kv_head, pos, hv_)];
    }
    size_t k_head_bytes() const { return static_cast<size_t>(hk_) * elem_; }
    size_t v_head_bytes() const { return static_cast<size_t>(hv_) * elem_; }
    // `count` consecutive positions from pos as f32 rows of all heads
    // (count x n_head_kv x head_dim), as store() took them.
    void k_to_f32(int layer, uint32_t seq, int32_t pos, int count, float *out) const;
    void v_to_f32(int layer, uint32_t seq, int32_t pos, int count, float *out) const;

    // Forget [p0, p1) of seq (p1 < 0: to the end).
    void drop(uint32_t seq, int32_t p0, int32_t p1);
    // dst gets src's positions [0, p1) (p1 < 0: all); dst's other positions are forgotten.
    void copy(uint32_t src, uint32_t dst, int32_t p1);

private:
    size_t index(uint32_t seq, int32_t pos) const { return static_cast<size_t>(seq) * n_ctx_ + pos; }
    size_t offset(int layer, uint32_t seq, int head, int32_t pos, int64_t head_dim) const {
        return (((static_cast<size_t>(layer) * n_seq_ + seq) * n_head_kv_ + head) * n_ctx_ + pos) * head_dim * elem_;
    }
    void to_f32(const uint8_t *src, int64_t n, float *out) const;
    void from_f32(const float *src, int64_t n, uint8_t *dst) const;
    void rows_to_f32(const uint8_t *base, int64_t head_dim, int layer, uint32_t seq, int32_t pos, int count,
                     float *out) const;

    int n_layer_, n_seq_, n_ctx_, n_head_kv_;
    int64_t hk_, hv_;
    KvType type_;
    size_t elem_;
    // K and V in 2 MiB pages where the kernel allows (MADV_HUGEPAGE): a decode
    // step reads every present position of every layer, so with 4 KiB pages
    // each token walks thousands of TLB misses (expensive page walks under a
    // hypervisor).
    struct Free {
        void operator()(uint8_t *p) const { std::free(p); }
    };
    std::unique_ptr<uint8_t[], Free> k_, v_;
    size_t k_bytes_ = 0, v_bytes_ = 0;
    std::vector<uint8_t> present_;
};

} // namespace skulk::cpu
