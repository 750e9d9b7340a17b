// Portable reference kernels: one dot product per (row, token) straight from
// the ggml blocks, with llama.cpp's vec_dot arithmetic (integer sums per
// block, one float multiply-add per block). The SIMD kernels are tested
// against these, and these against dequantize + double-precision dot.
#include "dispatch.hpp"
#include "quant/blocks.hpp"
#include "quant/fp16.hpp"

#include <cstring>

namespace skulk::cpu::detail {
namespace {
namespace q = skulk::quant;

inline uint32_t load_u32(const uint8_t *p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

// Sum over the 32 elements of a legacy block of code(j) * a[j].
template <class Code>
inline int32_t block_dot(const int8_t *a, Code code) {
    int32_t s = 0;
    for (int j = 0; j < q::QK; ++j) s += code(j) * a[j];
    return s;
}

float dot_q8_32(uint32_t type, const uint8_t *row, const ActQ8 &a, int64_t nb) {
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; ++b) {
        const int8_t *ab = a.qs + b * q::QK;
        const float da = a.d[b];
        switch (type) {
        case q::kQ4_0: {
            auto *x = reinterpret_cast<const q::block_q4_0 *>(row) + b;
            int32_t s = block_dot(ab, [&](int j) { return (j < 16 ? (x->qs[j] & 0xF) : (x->qs[j - 16] >> 4)) - 8; });
            sum += q::fp16_to_f32(x->d) * da * static_cast<float>(s);
            break;
        }
        case q::kQ4_1: {
            auto *x = reinterpret_cast<const q::block_q4_1 *>(row) + b;
            int32_t s = block_dot(ab, [&](int j) { return j < 16 ? (x->qs[j] & 0xF) : (x->qs[j - 16] >> 4); });
            sum += q::fp16_to_f32(x->d) * da * static_cast<float>(s) +
                   q::fp16_to_f32(x->m) * da * static_cast<float>(a.sum[b]);
            break;
        }
        case q::kQ5_0: {
            auto *x = reinterpret_cast<const q::block_q5_0 *>(row) + b;
            const uint32_t qh = load_u32(x->qh);
            int32_t s = block_dot(ab, [&](int j) {
                const int lo = j < 16 ? (x->qs[j] & 0xF) : (x->qs[j - 16] >> 4);
                return (lo | static_cast<int>(((qh >> j) & 1u) << 4)) - 16;
            });
            sum += q::fp16_to_f32(x->d) * da * static_cast<float>(s);
            break;
        }
        case q::kQ5_1: {
            auto *x = reinterpret_cast<const q::block_q5_1 *>(row) + b;
            const uint32_t qh = load_u32(x->qh);
            int32_t s = block_dot(ab, [&](int j) {
                const int lo = j < 16 ? (x->qs[j] & 0xF) : (x->qs[j - 16] >> 4);
                return lo | static_cast<int>(((qh >> j) & 1u) << 4);
            });
            sum += q::fp16_to_f32(x->d) * da * static_cast<float>(s) +
                   q::fp16_to_f32(x->m) * da * static_cast<float>(a.sum[b]);
            break;
        }
        case q::kQ8_0: {
            auto *x = reinterpret_cast<const q::block_q8_0 *>(row) + b;
            int32_t s = block_dot(ab, [&](int j) { return static_cast<int>(x->qs[j]); });
            sum += q::fp16_to_f32(x->d) * da * static_cast<float>(s);
            break;
        }
        }
    }
    return sum;
}

// Q4_K/Q5_K: d*sc_j*q - dmin*m_j per sub-block of 32.
float dot_q45_K(uint32_t type, const uint8_t *row, const ActQ8K &a, int64_t nb) {
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; ++b) {
        const int8_t *ab = a.qs + b * q::QK_K;
        const uint8_t *scales, *qs, *qh = nullptr;
        uint16_t d16, dmin16;
        if (type == q::kQ4_K) {
            auto *x = reinterpret_cast<const q::block_q4_K *>(row) + b;
            scales = x->scales; qs = x->qs; d16 = x->d; dmin16 = x->dmin;
        } else {
            auto *x = reinterpret_cast<const q::block_q5_K *>(row) + b;
            scales = x->scales; qs = x->qs; qh = x->qh; d16 = x->d; dmin16 = x->dmin;
        }
        int32_t isum = 0, imin = 0;
        for (int j = 0; j < 8; ++j) {
            uint8_t sc, m;
            q::get_scale_min_k4(j, scales, &sc, &m);
            int32_t s = 0;
            for (int l = 0; l < 32; ++l) {
                int v = (j & 1) ? (qs[32 * (j / 2) + l] >> 4) : (qs[32 * (j / 2) + l] & 0xF);
                if (qh && ((qh[l] >> j) & 1)) v += 16;
                s += v * ab[32 * j + l];
            }
            isum += s * sc;
            imin += m * a.sums32[b * 8 + j];
        }
        const float da = a.d[b];
        sum += q::fp16_to_f32(d16) * da * static_cast<float>(isum) -
               q::fp16_to_f32(dmin16) * da * static_cast<float>(imin);
    }
    return sum;
}

float dot_q6_K(const uint8_t *row, const ActQ8K &a, int64_t nb) {
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; ++b) {
        auto *x = reinterpret_cast<const q::block_q6_K *>(row) + b;
        const int8_t *ab = a.qs + b * q::QK_K;
        int32_t isum = 0;
        for (int half = 0; half < 2; ++half) {
            const uint8_t *ql = x->ql + 64 * half;
            const uint8_t *qh = x->qh + 32 * half;
            for (int l = 0; l < 32; ++l) {
                const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                const int base = 128 * half + l;
                const int8_t *sc = x->scales + 8 * half + l / 16;
                isum += sc[0] * q1 * ab[base] + sc[2] * q2 * ab[base + 32] + sc[4] * q3 * ab[base + 64] +
                        sc[6] * q4 * ab[base + 96];
            }
        }
        sum += q::fp16_to_f32(x->d) * a.d[b] * static_cast<float>(isum);
    }
    return sum;
}

float dot_float(uint32_t type, const uint8_t *row, const float *x, int64_t n) {
    float sum = 0.0f;
    if (type == q::kF32) {
        const float *w = reinterpret_cast<const float *>(row);
        for (int64_t k = 0; k < n; ++k) sum += w[k] * x[k];
    } else {
        const uint16_t *w = reinterpret_cast<const uint16_t *>(row);
        if (type == q::kF16)
            for (int64_t k = 0; k < n; ++k) sum += q::fp16_to_f32(w[k]) * x[k];
        else
            for (int64_t k = 0; k < n; ++k) sum += q::bf16_to_f32(w[k]) * x[k];
    }
    return sum;
}

} // namespace

void matmul_scalar(const PackedMatrix &w, const ActLayout &l, const void *qx, int n_tokens, float *y, int64_t ldy,
                   int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
        const uint8_t *row = w.data + static_cast<size_t>(r) * w.row_bytes;
        for (int t = 0; t < n_tokens; ++t) {
            float v = 0.0f;
            switch (l.kind) {
            case ActKind::f32: v = dot_float(w.type, row, act_f32(l, qx, t), l.cols); break;
            case ActKind::q8_32: v = dot_q8_32(w.type, row, act_q8(l, qx, t), l.nb); break;
            case ActKind::q8_k:
                v = w.type == q::kQ6_K ? dot_q6_K(row, act_q8k(l, qx, t), l.nb)
                                       : dot_q45_K(w.type, row, act_q8k(l, qx, t), l.nb);
                break;
            }
            y[static_cast<size_t>(t) * static_cast<size_t>(ldy) + static_cast<size_t>(r)] = v;
        }
    }
}

} // namespace skulk::cpu::detail
