// Causal grouped-query attention of one token over its sequence's KV cache.
// The unit of work is (token, kv head): the keys and values of one KV head
// are read once for all the query heads that share it.
#pragma once

#include "kv-cache.hpp"

#include <cstdint>

namespace skulk::cpu {

struct AttentionShape {
    int n_head = 0, n_head_kv = 0;
    int head_dim_k = 0, head_dim_v = 0;
    float scale = 1.0f; // applied to q.k (1/sqrt(head_dim_k))
};

// Floats of scratch one thread needs (n_ctx scores per query head of a group,
// plus one converted key and value head).
int64_t attention_scratch_floats(const AttentionShape &s, int n_ctx);

// q: all query heads of the token; out: all output heads of the token. Only
// the query heads of kv_head are read and their output heads written.
void attend(const KvCache &kv, int layer, const AttentionShape &s, uint32_t seq, int32_t pos, int kv_head,
            const float *q, float *out, float *scratch);

} // namespace skulk::cpu
