// AVX-512 body of attend(): one pass over the group's keys for all of its
// query heads, 16 keys at a time, read straight from the cache (f16 via
// vcvtph2ps, bf16 by shift, f32 as is); the 16 per-key partial vectors of a
// query head are reduced together (a transpose-add tree, ~2 instructions per
// key instead of a horizontal sum each); exp is vectorised; the value pass
// keeps the group's output heads in registers. Compiled for AVX-512 through
// the pragma below its includes; runs only when the dispatcher chose the
// avx512vnni level.
#include "attention.hpp"

#include <cmath>
#include <cstdint>

#include <immintrin.h>

#pragma GCC push_options
// GCC 12 flags its own intrinsic headers (_mm512_undefined_*) here.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")

namespace skulk::cpu::detail {
namespace {

using F = __m512;

inline __mmask16 tail_mask(int n) { return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1); }

template <KvType T>
constexpr int sizeof_kv() { return T == KvType::f32 ? 4 : 2; }

// 16 cache elements (masked) as f32.
template <KvType T>
inline F load16(const void *row, int64_t off, __mmask16 m) {
    if constexpr (T == KvType::f32) return _mm512_maskz_loadu_ps(m, static_cast<const float *>(row) + off);
    const __m256i h = _mm256_maskz_loadu_epi16(m, static_cast<const uint16_t *>(row) + off);
    if constexpr (T == KvType::f16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

// v[j] holds 16 partial sums of key j; returns the 16 totals, key j in lane j.
inline F reduce16(const F *v) {
    F t[8], u[4], w[2];
    for (int i = 0; i < 8; ++i) // per 128-bit lane: [a0+a2, b0+b2, a1+a3, b1+b3]
        t[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
    for (int i = 0; i < 4; ++i) // per 128-bit lane: keys 4i..4i+3
        u[i] = _mm512_add_ps(_mm512_shuffle_ps(t[2 * i], t[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_ps(t[2 * i], t[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    for (int i = 0; i < 2; ++i) // lanes: keys 8i..+3 (two halves), keys 8i+4..+7 (two halves)
        w[i] = _mm512_add_ps(_mm512_shuffle_f32x4(u[2 * i], u[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_f32x4(u[2 * i], u[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm512_add_ps(_mm512_shuffle_f32x4(w[0], w[1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(w[0], w[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

#include "kernels/expf_avx512.inc"

// The cache rows of one head are strided (all KV heads of a position are
// one row), and at decode they come from DRAM: fetch the head slices of the
// keys a block or so ahead, or the loads stall one key at a time.
inline void prefetch_slice(const void *p, int bytes) {
    const char *c = static_cast<const char *>(p);
    for (int o = 0; o < bytes; o += 64) _mm_prefetch(c + o, _MM_HINT_T0);
    _mm_prefetch(c + bytes - 1, _MM_HINT_T0); // a slice need not start on a line
}
constexpr int kAhead = 16; // keys

// Value pass for query heads [r0, r0 + R) (R <= RB): out_r += p_rj v_j.
template <KvType T, int N, int RB>
void values(const char *vbase, size_t vstride, int n, const uint8_t *present, const float *scores, int64_t ls, int r0,
            int R, __mmask16 mv, const float *scale, float *out, int dv) {
    F acc[RB][N];
    #pragma GCC unroll 16
    for (int r = 0; r < RB; ++r)
        #pragma GCC unroll 16
        for (int v = 0; v < N; ++v) acc[r][v] = _mm512_setzero_ps();
    for (int j = 0; j < n; ++j) {
        if (j + kAhead < n) prefetch_slice(vbase + (j + kAhead) * vstride, dv * sizeof_kv<T>());
        if (!present[j]) continue;
        const char *row = vbase + j * vstride;
        F x[N];
        #pragma GCC unroll 16
        for (int v = 0; v < N; ++v) x[v] = load16<T>(row, 16 * v, v == N - 1 ? mv : __mmask16(0xFFFF));
        #pragma GCC unroll 16
        for (int r = 0; r < RB; ++r) {
            if (r >= R) break;
            const F p = _mm512_set1_ps(scores[(r0 + r) * ls + j]);
            #pragma GCC unroll 16
            for (int v = 0; v < N; ++v) acc[r][v] = _mm512_fmadd_ps(p, x[v], acc[r][v]);
        }
    }
    #pragma GCC unroll 16
    for (int r = 0; r < RB; ++r) {
        if (r >= R) break;
        const F sc = _mm512_set1_ps(scale[r0 + r]);
        float *o = out + static_cast<int64_t>(r0 + r) * dv;
        #pragma GCC unroll 16
        for (int v = 0; v < N; ++v)
            _mm512_mask_storeu_ps(o + 16 * v, v == N - 1 ? mv : __mmask16(0xFFFF), _mm512_mul_ps(sc, acc[r][v]));
    }
}

template <KvType T, int N>
void attend_n(const KvCache &kv, int layer, const AttentionShape &s, uint32_t seq, int kv_head, int j0, int j1,
              const float *q, float *out, float *ms, float *scratch) {
    const int n_rep = s.n_rep(), dk = s.head_dim_k, dv = s.head_dim_v;
    const int n = j1 > j0 ? j1 - j0 : 0;
    const int64_t ls = (n + 15) / 16 * 16;
    // scratch: scores | 16 converted key rows | the scaled queries, 64-byte aligned
    float *scores = reinterpret_cast<float *>((reinterpret_cast<uintptr_t>(scratch) + 63) & ~uintptr_t(63));
    float *kb = scores + n_rep * ls;
    float *qs = kb + 16 * 16 * N;
    const __mmask16 mk = tail_mask(dk - 16 * (N - 1)), mv = tail_mask(dv - 16 * (N - 1));
    // Everything from j0 on: the head's keys and values from j0, and their presence.
    const uint8_t *present = kv.present_row(seq) + j0;
    const size_t kstride = kv.k_head_bytes(), vstride = kv.v_head_bytes();
    const char *kbase = static_cast<const char *>(kv.k_head(layer, seq, kv_head, j0));
    const char *vbase = static_cast<const char *>(kv.v_head(layer, seq, kv_head, j0));

    const F vscale = _mm512_set1_ps(s.scale);
    for (int r = 0; r < n_rep; ++r)
        for (int v = 0; v < N; ++v)
            _mm512_store_ps(qs + (r * N + v) * 16,
                            _mm512_mul_ps(vscale, _mm512_maskz_loadu_ps(v == N - 1 ? mk : __mmask16(0xFFFF),
                                                                        q + static_cast<int64_t>(r) * dk + 16 * v)));

    // Scores, 16 keys at a time; absent slots and lanes past the range: -inf.
    for (int jb = 0; jb < n; jb += 16) {
        const int nj = n - jb < 16 ? n - jb : 16;
        const __mmask16 in = tail_mask(nj);
        const __m128i pr = _mm_maskz_loadu_epi8(in, present + jb);
        const __mmask16 valid = _mm_mask_cmpneq_epi8_mask(in, pr, _mm_setzero_si128());
        for (int jj = jb + kAhead; jj < jb + kAhead + 16 && jj < n; ++jj)
            prefetch_slice(kbase + jj * kstride, dk * sizeof_kv<T>());
        for (int jj = 0; jj < 16; ++jj) {
            const bool load = jj < nj && ((valid >> jj) & 1);
            const char *row = kbase + (jb + jj) * kstride;
            #pragma GCC unroll 16
            for (int v = 0; v < N; ++v)
                _mm512_store_ps(kb + (jj * N + v) * 16,
                                load ? load16<T>(row, 16 * v, v == N - 1 ? mk : __mmask16(0xFFFF))
                                     : _mm512_setzero_ps());
        }
        for (int r = 0; r < n_rep; ++r) {
            F qv[N];
            #pragma GCC unroll 16
            for (int v = 0; v < N; ++v) qv[v] = _mm512_load_ps(qs + (r * N + v) * 16);
            F acc[16];
            #pragma GCC unroll 16
            for (int jj = 0; jj < 16; ++jj) {
                F a = _mm512_mul_ps(qv[0], _mm512_load_ps(kb + jj * N * 16));
                #pragma GCC unroll 16
                for (int v = 1; v < N; ++v) a = _mm512_fmadd_ps(qv[v], _mm512_load_ps(kb + (jj * N + v) * 16), a);
                acc[jj] = a;
            }
            const F sc = _mm512_mask_blend_ps(valid, _mm512_set1_ps(-INFINITY), reduce16(acc));
            _mm512_store_ps(scores + r * ls + jb, sc);
        }
    }

    // exp(s - max) per query head, and the sums.
    alignas(64) float inv[64];
    float *scale = n_rep <= 64 ? inv : qs; // qs is free again; n_rep * N * 16 >= n_rep floats
    for (int r = 0; r < n_rep; ++r) {
        float *sc = scores + r * ls;
        F mx = _mm512_set1_ps(-INFINITY);
        for (int64_t j = 0; j < ls; j += 16) mx = _mm512_max_ps(mx, _mm512_load_ps(sc + j));
        const float m = _mm512_reduce_max_ps(mx);
        F sum = _mm512_setzero_ps();
        if (m != -INFINITY) {
            const F vm = _mm512_set1_ps(m);
            for (int64_t j = 0; j < ls; j += 16) {
                const F e = v_expf(_mm512_sub_ps(_mm512_load_ps(sc + j), vm));
                _mm512_store_ps(sc + j, e);
                sum = _mm512_add_ps(sum, e);
            }
        } else {
            for (int64_t j = 0; j < ls; j += 16) _mm512_store_ps(sc + j, _mm512_setzero_ps());
        }
        const float total = _mm512_reduce_add_ps(sum);
        if (ms) {
            ms[2 * r] = m;
            ms[2 * r + 1] = total;
            scale[r] = 1.0f;
        } else {
            scale[r] = total > 0 ? 1.0f / total : 0.0f;
        }
    }

    // Values: the group's heads in register blocks of up to RB heads.
    constexpr int RB = N <= 2 ? 8 : N <= 4 ? 6 : 3;
    const int n_blocks = (n_rep + RB - 1) / RB;
    const int per = (n_rep + n_blocks - 1) / n_blocks;
    for (int r0 = 0; r0 < n_rep; r0 += per) {
        const int R = n_rep - r0 < per ? n_rep - r0 : per;
        values<T, N, RB>(vbase, vstride, n, present, scores, ls, r0, R, mv, scale, out, dv);
    }
}

template <KvType T>
bool attend_t(const KvCache &kv, int layer, const AttentionShape &s, uint32_t seq, int kv_head, int j0, int j1,
              const float *q, float *out, float *ms, float *scratch) {
    const int N = (s.head_dim_k + 15) / 16;
    if (N != (s.head_dim_v + 15) / 16) return false;
    switch (N) {
    case 1: attend_n<T, 1>(kv, layer, s, seq, kv_head, j0, j1, q, out, ms, scratch); return true;
    case 2: attend_n<T, 2>(kv, layer, s, seq, kv_head, j0, j1, q, out, ms, scratch); return true;
    case 3: attend_n<T, 3>(kv, layer, s, seq, kv_head, j0, j1, q, out, ms, scratch); return true;
    case 4: attend_n<T, 4>(kv, layer, s, seq, kv_head, j0, j1, q, out, ms, scratch); return true;
    case 5: attend_n<T, 5>(kv, layer, s, seq, kv_head, j0, j1, q, out, ms, scratch); return true;
    case 6: attend_n<T, 6>(kv, layer, s, seq, kv_head, j0, j1, q, out, ms, scratch); return true;
    case 7: attend_n<T, 7>(kv, layer, s, seq, kv_head, j0, j1, q, out, ms, scratch); return true;
    case 8: attend_n<T, 8>(kv, layer, s, seq, kv_head, j0, j1, q, out, ms, scratch); return true;
    default: return false;
    }
}

} // namespace

bool attend_avx512(const KvCache &kv, int layer, const AttentionShape &s, uint32_t seq, int kv_head, int j0, int j1,
                   const float *q, float *out, float *ms, float *scratch) {
    switch (kv.type()) {
    case KvType::f16: return attend_t<KvType::f16>(kv, layer, s, seq, kv_head, j0, j1, q, out, ms, scratch);
    case KvType::bf16: return attend_t<KvType::bf16>(kv, layer, s, seq, kv_head, j0, j1, q, out, ms, scratch);
    case KvType::f32: return attend_t<KvType::f32>(kv, layer, s, seq, kv_head, j0, j1, q, out, ms, scratch);
    }
    return false;
}

} // namespace skulk::cpu::detail

#pragma GCC pop_options
