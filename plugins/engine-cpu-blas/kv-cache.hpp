// The key/value cache of one engine instance: for each local layer and each
// sequence, n_ctx slots addressed by position, in F16 (default), BF16 or F32.
// A slot is "present" once a token was stored at that position and until
// seq_drop forgets it; attention of a token at position p reads the present
// slots [0, p] of its own sequence (the causal mask).
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
    KvCache(int n_layer, int n_seq, int n_ctx, int64_t k_dim, int64_t v_dim, KvType type);

    int n_ctx() const { return n_ctx_; }
    int n_seq() const { return n_seq_; }
    KvType type() const { return type_; }
    size_t bytes() const { return k_bytes_ + v_bytes_ + present_.size(); }

    // Mark positions present before the layers store into them.
    void mark(uint32_t seq, int32_t pos) { present_[index(seq, pos)] = 1; }
    bool present(uint32_t seq, int32_t pos) const { return present_[index(seq, pos)] != 0; }
    const uint8_t *present_row(uint32_t seq) const { return &present_[static_cast<size_t>(seq) * n_ctx_]; }

    // Store one token's k (k_dim floats) and v (v_dim floats).
    void store(int layer, uint32_t seq, int32_t pos, const float *k, const float *v);
    // Raw row pointers (elements of type()); rows of one sequence are
    // contiguous by position.
    const void *k_row(int layer, uint32_t seq, int32_t pos) const { return &k_[offset(layer, seq, pos, k_dim_)]; }
    const void *v_row(int layer, uint32_t seq, int32_t pos) const { return &v_[offset(layer, seq, pos, v_dim_)]; }
    // Bytes from one position's row to the next (rows of a sequence are contiguous).
    size_t k_row_bytes() const { return static_cast<size_t>(k_dim_) * elem_; }
    size_t v_row_bytes() const { return static_cast<size_t>(v_dim_) * elem_; }
    // Convert `count` consecutive rows starting at pos to f32.
    void k_to_f32(int layer, uint32_t seq, int32_t pos, int count, float *out) const;
    void v_to_f32(int layer, uint32_t seq, int32_t pos, int count, float *out) const;

    // Forget [p0, p1) of seq (p1 < 0: to the end).
    void drop(uint32_t seq, int32_t p0, int32_t p1);
    // dst gets src's positions [0, p1) (p1 < 0: all); dst's other positions are forgotten.
    void copy(uint32_t src, uint32_t dst, int32_t p1);

private:
    size_t index(uint32_t seq, int32_t pos) const { return static_cast<size_t>(seq) * n_ctx_ + pos; }
    size_t offset(int layer, uint32_t seq, int32_t pos, int64_t dim) const {
        return ((static_cast<size_t>(layer) * n_seq_ + seq) * n_ctx_ + pos) * dim * elem_;
    }
    void to_f32(const uint8_t *src, int64_t n, float *out) const;

    int n_layer_, n_seq_, n_ctx_;
    int64_t k_dim_, v_dim_;
    KvType type_;
    size_t elem_;
    // K and V in 2 MiB pages where the kernel allows (MADV_HUGEPAGE): a decode
    // step reads a few hundred bytes from every position of every layer, so
    // with 4 KiB pages each token walks thousands of TLB misses (expensive
    // page walks under a hypervisor).
    struct Free {
        void operator()(uint8_t *p) const { std::free(p); }
    };
    std::unique_ptr<uint8_t[], Free> k_, v_;
    size_t k_bytes_ = 0, v_bytes_ = 0;
    std::vector<uint8_t> present_;
};

} // namespace skulk::cpu
