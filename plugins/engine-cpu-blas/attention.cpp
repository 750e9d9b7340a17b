#include "attention.hpp"

#include "half.hpp"

#include <cmath>
#include <cstring>
#include <limits>

namespace skulk::cpu {

int64_t attention_scratch_floats(const AttentionShape &s, int n_ctx) {
    const int n_rep = s.n_head / s.n_head_kv;
    return static_cast<int64_t>(n_rep) * n_ctx + s.head_dim_k + s.head_dim_v;
}

namespace {

// The two inner loops of attention, built for AVX-512, AVX2 and baseline
// x86-64 (picked at load time): the plugin is compiled for baseline x86-64.
// The dot product keeps 16 partial sums so the compiler can vectorize it
// without reassociating a single sum.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SKULK_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SKULK_CLONES
#endif

SKULK_CLONES float dot(const float *a, const float *b, int n) {
    float acc[16] = {};
    int i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; ++j) acc[j] += a[i + j] * b[i + j];
    float s = 0.0f;
    for (int j = 0; j < 16; ++j) s += acc[j];
    for (; i < n; ++i) s += a[i] * b[i];
    return s;
}

SKULK_CLONES void axpy(float *y, float a, const float *x, int n) {
    for (int i = 0; i < n; ++i) y[i] += a * x[i];
}

// One head slice of a cache row as f32 (a pointer into the cache for F32).
const float *head_f32(KvType type, const void *row, int64_t offset, int64_t n, float *tmp) {
    switch (type) {
    case KvType::f32: return static_cast<const float *>(row) + offset;
    case KvType::f16: f16_to_f32_row(static_cast<const uint16_t *>(row) + offset, tmp, n); return tmp;
    case KvType::bf16: bf16_to_f32_row(static_cast<const uint16_t *>(row) + offset, tmp, n); return tmp;
    }
    return tmp;
}
} // namespace

void attend(const KvCache &kv, int layer, const AttentionShape &s, uint32_t seq, int32_t pos, int kv_head,
            const float *q, float *out, float *scratch) {
    const int n_rep = s.n_head / s.n_head_kv;
    const int dk = s.head_dim_k, dv = s.head_dim_v;
    const int n_keys = pos + 1;
    float *scores = scratch;                           // n_rep x n_keys
    float *ktmp = scratch + static_cast<int64_t>(n_rep) * kv.n_ctx();
    float *vtmp = ktmp + dk;
    const uint8_t *present = kv.present_row(seq);
    const int h0 = kv_head * n_rep;

    // scores[r][j] = scale * q_r . k_j, -inf for absent slots.
    for (int j = 0; j < n_keys; ++j) {
        if (!present[j]) {
            for (int r = 0; r < n_rep; ++r) scores[r * n_keys + j] = -std::numeric_limits<float>::infinity();
            continue;
        }
        const float *k = head_f32(kv.type(), kv.k_row(layer, seq, j), static_cast<int64_t>(kv_head) * dk, dk, ktmp);
        for (int r = 0; r < n_rep; ++r) {
            const float *qh = q + static_cast<int64_t>(h0 + r) * dk;
            scores[r * n_keys + j] = dot(qh, k, dk) * s.scale;
        }
    }
    // Softmax per query head (sum in double, as the reference does).
    for (int r = 0; r < n_rep; ++r) {
        float *sc = scores + r * n_keys;
        float mx = -std::numeric_limits<float>::infinity();
        for (int j = 0; j < n_keys; ++j) mx = sc[j] > mx ? sc[j] : mx;
        double sum = 0.0;
        for (int j = 0; j < n_keys; ++j) {
            const float e = (sc[j] == -std::numeric_limits<float>::infinity()) ? 0.0f : std::exp(sc[j] - mx);
            sc[j] = e;
            sum += e;
        }
        const float inv = sum > 0 ? static_cast<float>(1.0 / sum) : 0.0f;
        for (int j = 0; j < n_keys; ++j) sc[j] *= inv;
        std::memset(out + static_cast<int64_t>(h0 + r) * dv, 0, dv * sizeof(float));
    }
    // out_r = sum_j p_rj v_j
    for (int j = 0; j < n_keys; ++j) {
        if (!present[j]) continue;
        const float *v = head_f32(kv.type(), kv.v_row(layer, seq, j), static_cast<int64_t>(kv_head) * dv, dv, vtmp);
        for (int r = 0; r < n_rep; ++r) {
            const float p = scores[r * n_keys + j];
            if (p == 0.0f) continue;
            axpy(out + static_cast<int64_t>(h0 + r) * dv, p, v, dv);
        }
    }
}

} // namespace skulk::cpu
