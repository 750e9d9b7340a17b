#include "attention.hpp"

#include "half.hpp"
#include "kernels/dispatch.hpp"
#include "kernels/vec.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace skulk::cpu {

namespace {
constexpr float kNegInf = -std::numeric_limits<float>::infinity();
int64_t pad16(int64_t n) { return (n + 15) / 16 * 16; }

// One head of one position as f32 (a pointer into the cache for F32).
const float *head_f32(KvType type, const void *row, int64_t offset, int64_t n, float *tmp) {
    switch (type) {
    case KvType::f32: return static_cast<const float *>(row) + offset;
    case KvType::f16: skulk::cpu::f16_to_f32_row(static_cast<const uint16_t *>(row) + offset, tmp, n); return tmp;
    case KvType::bf16: bf16_to_f32_row(static_cast<const uint16_t *>(row) + offset, tmp, n); return tmp;
    }
    return tmp;
}
} // namespace

// scores (n_rep rows of the padded range) | 16 key rows | one value row | n_rep scaled queries
int64_t attention_scratch_floats(const AttentionShape &s, int n_ctx) {
    const int64_t pk = pad16(s.head_dim_k), pv = pad16(s.head_dim_v);
    return static_cast<int64_t>(s.n_rep()) * (pad16(n_ctx) + pk) + 16 * pk + pv + 16;
}

namespace detail {

void attend_portable(const KvCache &kv, int layer, const AttentionShape &s, uint32_t seq, int kv_head, int j0,
                     int j1, const float *q, float *out, float *ms, float *scratch) {
    const int n_rep = s.n_rep();
    const int dk = s.head_dim_k, dv = s.head_dim_v;
    const int n = std::max(j1 - j0, 0);
    const int64_t ls = pad16(n);
    float *scores = scratch; // n_rep x ls
    float *ktmp = scratch + n_rep * ls;
    float *vtmp = ktmp + 16 * pad16(dk);
    const uint8_t *present = kv.present_row(seq);

    // scores[r][j] = scale * q_r . k_j, -inf for absent slots.
    for (int j = 0; j < n; ++j) {
        if (!present[j0 + j]) {
            for (int r = 0; r < n_rep; ++r) scores[r * ls + j] = kNegInf;
            continue;
        }
        const float *k = head_f32(kv.type(), kv.k_head(layer, seq, kv_head, j0 + j), 0, dk, ktmp);
        for (int r = 0; r < n_rep; ++r) scores[r * ls + j] = dot_f32(q + static_cast<int64_t>(r) * dk, k, dk) * s.scale;
    }
    // exp(s - max) per query head; the sum in double, as the reference does.
    for (int r = 0; r < n_rep; ++r) {
        float *sc = scores + r * ls;
        float mx = kNegInf;
        for (int j = 0; j < n; ++j) mx = sc[j] > mx ? sc[j] : mx;
        double sum = 0.0;
        for (int j = 0; j < n; ++j) {
            const float e = (sc[j] == kNegInf) ? 0.0f : std::exp(sc[j] - mx);
            sc[j] = e;
            sum += e;
        }
        if (ms) {
            ms[2 * r] = mx;
            ms[2 * r + 1] = static_cast<float>(sum);
        } else {
            const float inv = sum > 0 ? static_cast<float>(1.0 / sum) : 0.0f;
            for (int j = 0; j < n; ++j) sc[j] *= inv;
        }
        std::memset(out + static_cast<int64_t>(r) * dv, 0, dv * sizeof(float));
    }
    // out_r = sum_j p_rj v_j
    for (int j = 0; j < n; ++j) {
        if (!present[j0 + j]) continue;
        const float *v = head_f32(kv.type(), kv.v_head(layer, seq, kv_head, j0 + j), 0, dv, vtmp);
        for (int r = 0; r < n_rep; ++r) {
            const float p = scores[r * ls + j];
            if (p != 0.0f) axpy_f32(p, v, out + static_cast<int64_t>(r) * dv, dv);
        }
    }
}

} // namespace detail

void attend(const KvCache &kv, int layer, const AttentionShape &s, uint32_t seq, int kv_head, int j0, int j1,
            const float *q, float *out, float *ms, float *scratch) {
    // The same choice as the matmul kernels (SKULK_CPU_ISA lowers it), so the
    // scalar conformance run exercises the portable body end to end.
    static const bool vector = detail::active_isa() == Isa::avx512vnni;
    if (vector && detail::attend_avx512(kv, layer, s, seq, kv_head, j0, j1, q, out, ms, scratch)) return;
    detail::attend_portable(kv, layer, s, seq, kv_head, j0, j1, q, out, ms, scratch);
}

void attention_merge(const AttentionShape &s, int n_parts, const float *parts, const float *ms, float *out) {
    const int n_rep = s.n_rep(), dv = s.head_dim_v;
    for (int r = 0; r < n_rep; ++r) {
        float m = kNegInf;
        for (int p = 0; p < n_parts; ++p) m = std::max(m, ms[2 * (p * n_rep + r)]);
        float *o = out + static_cast<int64_t>(r) * dv;
        std::memset(o, 0, dv * sizeof(float));
        if (m == kNegInf) continue; // no present key at all
        double sum = 0.0;
        for (int p = 0; p < n_parts; ++p) {
            const float mp = ms[2 * (p * n_rep + r)];
            if (mp == kNegInf) continue;
            const float w = std::exp(mp - m);
            sum += static_cast<double>(w) * ms[2 * (p * n_rep + r) + 1];
            axpy_f32(w, parts + (static_cast<int64_t>(p) * n_rep + r) * dv, o, dv);
        }
        scale_f32(sum > 0 ? static_cast<float>(1.0 / sum) : 0.0f, o, dv);
    }
}

} // namespace skulk::cpu
