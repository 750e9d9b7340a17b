// Causal grouped-query attention of one token over its sequence's KV cache.
// The unit of work is (token, kv head, key range): the keys and values of one
// KV head are read once for all the query heads that share it (GQA), straight
// from the cache's f16/bf16/f32 rows (no conversion pass over the KV). A long
// key range can be cut into chunks that different threads compute; each chunk
// then leaves unnormalised partial sums that attention_merge combines, so a
// single decoding token still keeps every thread busy.
#pragma once

#include "kv_cache.hpp"

#include <cstdint>

namespace skulk::cpu {

struct AttentionShape {
    int n_head = 0, n_head_kv = 0;
    int head_dim_k = 0, head_dim_v = 0;
    float scale = 1.0f; // applied to q.k (1/sqrt(head_dim_k))
    int n_rep() const { return n_head / n_head_kv; }
};

// Floats of scratch one thread needs for key ranges of up to n_ctx keys.
int64_t attention_scratch_floats(const AttentionShape &s, int n_ctx);

// Attention of the query heads of kv_head over the present keys [j0, j1) of
// seq. q: the group's n_rep query heads (contiguous, head_dim_k each); out:
// the group's n_rep output heads (contiguous, head_dim_v each).
// ms == nullptr: out = softmax-weighted sum of values (the finished result).
// ms != nullptr: out = sum_j exp(s_j - m) v_j, with ms[2r] = m and
// ms[2r + 1] = sum_j exp(s_j - m) for query head r (m = -inf and zeros when
// the range has no present key): a partial for attention_merge.
void attend(const KvCache &kv, int layer, const AttentionShape &s, uint32_t seq, int kv_head, int j0, int j1,
            const float *q, float *out, float *ms, float *scratch);

// Combines n_parts partials of one (token, kv head) (out/ms of attend, part
// p at parts + p * n_rep * head_dim_v and ms + p * 2 * n_rep) into out.
void attention_merge(const AttentionShape &s, int n_parts, const float *parts, const float *ms, float *out);

namespace detail {
// The AVX-512 body of attend (attention_avx512.cpp); false when this shape
// has no vector kernel (head dims over 128 or unequal in 16-lane vectors).
bool attend_avx512(const KvCache &kv, int layer, const AttentionShape &s, uint32_t seq, int kv_head, int j0, int j1,
                   const float *q, float *out, float *ms, float *scratch);
// The portable body (every ISA level; tests compare the two).
void attend_portable(const KvCache &kv, int layer, const AttentionShape &s, uint32_t seq, int kv_head, int j0,
                     int j1, const float *q, float *out, float *ms, float *scratch);
} // namespace detail

} // namespace skulk::cpu
