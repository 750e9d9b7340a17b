// Transcribed from ggml-quants.c (b4748) so the arithmetic, and therefore
// every rounding, is the same. This file must be compiled without
// -ffast-math or FP contraction (see CMakeLists: -ffp-contract=off).
#include "quant/reference.hpp"

#include "quant/blocks.hpp"
#include "quant/fp16.hpp"
#include "quant/types.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <string>

namespace skulk::quant {
namespace {

constexpr float GROUP_MAX_EPS = 1e-15f;

inline int nearest_int(float fval) {
    float val = fval + 12582912.f;
    int i;
    std::memcpy(&i, &val, sizeof(int));
    return (i & 0x007fffff) - 0x00400000;
}

// ---- legacy 32-element formats ---------------------------------------------

// The value of largest magnitude in one block, with its sign (the first one
// on ties, as ggml picks it): the symmetric formats scale by it.
inline float signed_absmax(const float *x) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < QK; j++)
        if (amax < std::fabs(x[j])) { amax = std::fabs(x[j]); max = x[j]; }
    return max;
}

struct block_range { float min, max; };

// The smallest and largest value in one block: the offset formats span it.
inline block_range min_max(const float *x) {
    block_range r{FLT_MAX, -FLT_MAX};
    for (int j = 0; j < QK; j++) {
        if (x[j] < r.min) r.min = x[j];
        if (x[j] > r.max) r.max = x[j];
    }
    return r;
}

void quantize_q4_0(const float *x, block_q4_0 *y, int64_t k) {
    const int64_t nb = k / QK;
    for (int64_t i = 0; i < nb; i++) {
        const float max = signed_absmax(x + i * QK);
        const float d = max / -8;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = f32_to_fp16(d);
        for (int j = 0; j < QK / 2; ++j) {
            const float x0 = x[i * QK + j] * id;
            const float x1 = x[i * QK + QK / 2 + j] * id;
            const uint8_t xi0 = std::min<int>(15, static_cast<int8_t>(x0 + 8.5f));
            const uint8_t xi1 = std::min<int>(15, static_cast<int8_t>(x1 + 8.5f));
            y[i].qs[j] = static_cast<uint8_t>(xi0 | (xi1 << 4));
        }
    }
}

void quantize_q4_1(const float *x, block_q4_1 *y, int64_t k) {
    const int64_t nb = k / QK;
    for (int64_t i = 0; i < nb; i++) {
        const auto [min, max] = min_max(x + i * QK);
        const float d = (max - min) / ((1 << 4) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = f32_to_fp16(d);
        y[i].m = f32_to_fp16(min);
        for (int j = 0; j < QK / 2; ++j) {
            const float x0 = (x[i * QK + j] - min) * id;
            const float x1 = (x[i * QK + QK / 2 + j] - min) * id;
            const uint8_t xi0 = std::min<int>(15, static_cast<int8_t>(x0 + 0.5f));
            const uint8_t xi1 = std::min<int>(15, static_cast<int8_t>(x1 + 0.5f));
            y[i].qs[j] = static_cast<uint8_t>(xi0 | (xi1 << 4));
        }
    }
}

void quantize_q5_0(const float *x, block_q5_0 *y, int64_t k) {
    const int64_t nb = k / QK;
    for (int64_t i = 0; i < nb; i++) {
        const float max = signed_absmax(x + i * QK);
        const float d = max / -16;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = f32_to_fp16(d);
        uint32_t qh = 0;
        for (int j = 0; j < QK / 2; ++j) {
            const float x0 = x[i * QK + j] * id;
            const float x1 = x[i * QK + QK / 2 + j] * id;
            const uint8_t xi0 = std::min<int>(31, static_cast<int8_t>(x0 + 16.5f));
            const uint8_t xi1 = std::min<int>(31, static_cast<int8_t>(x1 + 16.5f));
            y[i].qs[j] = static_cast<uint8_t>((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
            qh |= ((xi0 & 0x10u) >> 4) << (j + 0);
            qh |= ((xi1 & 0x10u) >> 4) << (j + QK / 2);
        }
        std::memcpy(y[i].qh, &qh, sizeof qh);
    }
}

void quantize_q5_1(const float *x, block_q5_1 *y, int64_t k) {
    const int64_t nb = k / QK;
    for (int64_t i = 0; i < nb; i++) {
        const auto [min, max] = min_max(x + i * QK);
        const float d = (max - min) / ((1 << 5) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = f32_to_fp16(d);
        y[i].m = f32_to_fp16(min);
        uint32_t qh = 0;
        for (int j = 0; j < QK / 2; ++j) {
            const float x0 = (x[i * QK + j] - min) * id;
            const float x1 = (x[i * QK + QK / 2 + j] - min) * id;
            const uint8_t xi0 = static_cast<uint8_t>(x0 + 0.5f);
            const uint8_t xi1 = static_cast<uint8_t>(x1 + 0.5f);
            y[i].qs[j] = static_cast<uint8_t>((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
            qh |= ((xi0 & 0x10u) >> 4) << (j + 0);
            qh |= ((xi1 & 0x10u) >> 4) << (j + QK / 2);
        }
        std::memcpy(y[i].qh, &qh, sizeof qh);
    }
}

void quantize_q8_0(const float *x, block_q8_0 *y, int64_t k) {
    const int64_t nb = k / QK;
    for (int64_t i = 0; i < nb; i++) {
        float amax = 0.0f;
        for (int j = 0; j < QK; j++) amax = std::max(amax, std::fabs(x[i * QK + j]));
        const float d = amax / ((1 << 7) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = f32_to_fp16(d);
        for (int j = 0; j < QK; ++j) y[i].qs[j] = static_cast<int8_t>(std::round(x[i * QK + j] * id));
    }
}

void quantize_q8_1(const float *x, block_q8_1 *y, int64_t k) {
    const int64_t nb = k / QK;
    for (int64_t i = 0; i < nb; i++) {
        float amax = 0.0f;
        for (int j = 0; j < QK; j++) amax = std::max(amax, std::fabs(x[i * QK + j]));
        const float d = amax / ((1 << 7) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = f32_to_fp16(d);
        int sum = 0;
        for (int j = 0; j < QK / 2; ++j) {
            y[i].qs[j] = static_cast<int8_t>(std::round(x[i * QK + j] * id));
            y[i].qs[QK / 2 + j] = static_cast<int8_t>(std::round(x[i * QK + QK / 2 + j] * id));
            sum += y[i].qs[j] + y[i].qs[QK / 2 + j];
        }
        y[i].s = f32_to_fp16(sum * d);
    }
}

// ---- K-quant helpers (ggml-quants.c) ------------------------------------------

float make_qx_quants(int n, int nmax, const float *x, int8_t *L, int rmse_type, const float *qw) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; ++i) {
        float ax = std::fabs(x[i]);
        if (ax > amax) { amax = ax; max = x[i]; }
    }
    if (amax < GROUP_MAX_EPS) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.f;
    }
    float iscale = -nmax / max;
    if (rmse_type == 0) {
        for (int i = 0; i < n; ++i) {
            int l = nearest_int(iscale * x[i]);
            L[i] = static_cast<int8_t>(nmax + std::max(-nmax, std::min(nmax - 1, l)));
        }
        return 1 / iscale;
    }
    bool return_early = false;
    if (rmse_type < 0) { rmse_type = -rmse_type; return_early = true; }
    auto weight = [&](int i) {
        return qw ? qw[i]
               : rmse_type == 1 ? x[i] * x[i]
               : rmse_type == 2 ? 1.0f
               : rmse_type == 3 ? std::fabs(x[i])
                                : std::sqrt(std::fabs(x[i]));
    };
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        int l = nearest_int(iscale * x[i]);
        l = std::max(-nmax, std::min(nmax - 1, l));
        L[i] = static_cast<int8_t>(l + nmax);
        float w = weight(i);
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    if (return_early) return suml2 > 0 ? 0.5f * (scale + 1 / iscale) : 1 / iscale;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; ++i) {
            int l = nearest_int(iscale * x[i]);
            l = std::max(-nmax, std::min(nmax - 1, l));
            float w = weight(i);
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; ++i) {
                int l = nearest_int(iscale * x[i]);
                L[i] = static_cast<int8_t>(nmax + std::max(-nmax, std::min(nmax - 1, l)));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

float make_qkx2_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L,
                       float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep,
                       bool use_mad) {
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_mad = 0;
    for (int i = 0; i < n; ++i) {
        int l = nearest_int(iscale * (x[i] - min));
        L[i] = static_cast<uint8_t>(std::max(0, std::min(nmax, l)));
        float diff = scale * L[i] + min - x[i];
        diff = use_mad ? std::fabs(diff) : diff * diff;
        best_mad += weights[i] * diff;
    }
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    for (int is = 0; is <= nstep; ++is) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            int l = nearest_int(iscale * (x[i] - min));
            l = std::max(0, std::min(nmax, l));
            Laux[i] = static_cast<uint8_t>(l);
            float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float mad = 0;
            for (int i = 0; i < n; ++i) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                diff = use_mad ? std::fabs(diff) : diff * diff;
                mad += weights[i] * diff;
            }
            if (mad < best_mad) {
                for (int i = 0; i < n; ++i) L[i] = Laux[i];
                best_mad = mad;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

// Shared by Q4_K and Q5_K: 8 sub-blocks of 32 with 6-bit scales and mins.
// Fills L (0..nmax) and the scales/d/dmin fields.
void quantize_k_scales(const float *x, int nmax, float rmin, int nstep, uint8_t *L,
                       uint8_t *scales_out, uint16_t *d_out, uint16_t *dmin_out) {
    float mins[QK_K / 32], scales[QK_K / 32], weights[32];
    uint8_t Laux[32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < QK_K / 32; ++j) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
        float av_x = std::sqrt(sum_x2 / 32);
        for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(x[32 * j + l]);
        scales[j] = make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux,
                                     rmin, 0.1f, nstep, false);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < QK_K / 32; ++j) {
        uint8_t ls = static_cast<uint8_t>(nearest_int(inv_scale * scales[j]));
        uint8_t lm = static_cast<uint8_t>(nearest_int(inv_min * mins[j]));
        ls = std::min<uint8_t>(63, ls);
        lm = std::min<uint8_t>(63, lm);
        if (j < 4) {
            scales_out[j] = ls;
            scales_out[j + 4] = lm;
        } else {
            scales_out[j + 4] = static_cast<uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
            scales_out[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
            scales_out[j - 0] |= static_cast<uint8_t>((lm >> 4) << 6);
        }
    }
    *d_out = f32_to_fp16(max_scale / 63.f);
    *dmin_out = f32_to_fp16(max_min / 63.f);
    for (int j = 0; j < QK_K / 32; ++j) {
        uint8_t sc, m;
        get_scale_min_k4(j, scales_out, &sc, &m);
        const float d = fp16_to_f32(*d_out) * sc;
        if (!d) continue;
        const float dm = fp16_to_f32(*dmin_out) * m;
        for (int ii = 0; ii < 32; ++ii) {
            int l = nearest_int((x[32 * j + ii] + dm) / d);
            L[32 * j + ii] = static_cast<uint8_t>(std::max(0, std::min(nmax, l)));
        }
    }
}

void quantize_q4_K(const float *x, block_q4_K *y, int64_t k) {
    const int64_t nb = k / QK_K;
    uint8_t L[QK_K];
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        std::memset(y[i].scales, 0, sizeof y[i].scales);
        quantize_k_scales(x, 15, -1.f, 20, L, y[i].scales, &y[i].d, &y[i].dmin);
        uint8_t *q = y[i].qs;
        for (int j = 0; j < QK_K; j += 64, q += 32)
            for (int l = 0; l < 32; ++l) q[l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 4));
    }
}

void quantize_q5_K(const float *x, block_q5_K *y, int64_t k) {
    const int64_t nb = k / QK_K;
    uint8_t L[QK_K];
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        std::memset(y[i].scales, 0, sizeof y[i].scales);
        quantize_k_scales(x, 31, -0.5f, 15, L, y[i].scales, &y[i].d, &y[i].dmin);
        uint8_t *qh = y[i].qh;
        uint8_t *ql = y[i].qs;
        std::memset(qh, 0, QK_K / 8);
        uint8_t m1 = 1, m2 = 2;
        for (int n = 0; n < QK_K; n += 64, ql += 32) {
            for (int j = 0; j < 32; ++j) {
                int l1 = L[n + j];
                if (l1 > 15) { l1 -= 16; qh[j] |= m1; }
                int l2 = L[n + j + 32];
                if (l2 > 15) { l2 -= 16; qh[j] |= m2; }
                ql[j] = static_cast<uint8_t>(l1 | (l2 << 4));
            }
            m1 = static_cast<uint8_t>(m1 << 2);
            m2 = static_cast<uint8_t>(m2 << 2);
        }
    }
}

void quantize_q6_K(const float *x, block_q6_K *y, int64_t k) {
    const int64_t nb = k / QK_K;
    int8_t L[QK_K];
    float scales[QK_K / 16];
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < QK_K / 16; ++ib) {
            const float scale = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib, 1, nullptr);
            scales[ib] = scale;
            const float abs_scale = std::fabs(scale);
            if (abs_scale > max_abs_scale) { max_abs_scale = abs_scale; max_scale = scale; }
        }
        if (max_abs_scale < GROUP_MAX_EPS) {
            std::memset(&y[i], 0, sizeof(block_q6_K));
            y[i].d = f32_to_fp16(0.f);
            continue;
        }
        float iscale = -128.f / max_scale;
        y[i].d = f32_to_fp16(1 / iscale);
        for (int ib = 0; ib < QK_K / 16; ++ib)
            y[i].scales[ib] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[ib])));
        for (int j = 0; j < QK_K / 16; ++j) {
            float d = fp16_to_f32(y[i].d) * y[i].scales[j];
            if (!d) continue;
            for (int ii = 0; ii < 16; ++ii) {
                int l = nearest_int(x[16 * j + ii] / d);
                l = std::max(-32, std::min(31, l));
                L[16 * j + ii] = static_cast<int8_t>(l + 32);
            }
        }
        uint8_t *ql = y[i].ql;
        uint8_t *qh = y[i].qh;
        for (int j = 0; j < QK_K; j += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; ++l) {
                const uint8_t q1 = L[j + l + 0] & 0xF;
                const uint8_t q2 = L[j + l + 32] & 0xF;
                const uint8_t q3 = L[j + l + 64] & 0xF;
                const uint8_t q4 = L[j + l + 96] & 0xF;
                ql[l + 0] = static_cast<uint8_t>(q1 | (q3 << 4));
                ql[l + 32] = static_cast<uint8_t>(q2 | (q4 << 4));
                qh[l] = static_cast<uint8_t>((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) |
                                             ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
            }
        }
    }
}

void quantize_q8_K(const float *x, block_q8_K *y, int64_t k) {
    const int64_t nb = k / QK_K;
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        float max = 0, amax = 0;
        for (int j = 0; j < QK_K; ++j) {
            float ax = std::fabs(x[j]);
            if (ax > amax) { amax = ax; max = x[j]; }
        }
        if (!amax) {
            // ggml leaves bsums unset here; we zero the whole block.
            std::memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < QK_K; ++j) y[i].qs[j] = static_cast<int8_t>(std::min(127, nearest_int(iscale * x[j])));
        for (int j = 0; j < QK_K / 16; ++j) {
            int sum = 0;
            for (int ii = 0; ii < 16; ++ii) sum += y[i].qs[j * 16 + ii];
            y[i].bsums[j] = static_cast<int16_t>(sum);
        }
        y[i].d = 1 / iscale;
    }
}

// ---- dequantization -------------------------------------------------------------

void dequant_q4_0(const block_q4_0 *x, float *y, int64_t k) {
    for (int64_t i = 0; i < k / QK; i++) {
        const float d = fp16_to_f32(x[i].d);
        for (int j = 0; j < QK / 2; ++j) {
            y[i * QK + j] = ((x[i].qs[j] & 0x0F) - 8) * d;
            y[i * QK + j + QK / 2] = ((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

void dequant_q4_1(const block_q4_1 *x, float *y, int64_t k) {
    for (int64_t i = 0; i < k / QK; i++) {
        const float d = fp16_to_f32(x[i].d), m = fp16_to_f32(x[i].m);
        for (int j = 0; j < QK / 2; ++j) {
            y[i * QK + j] = (x[i].qs[j] & 0x0F) * d + m;
            y[i * QK + j + QK / 2] = (x[i].qs[j] >> 4) * d + m;
        }
    }
}

void dequant_q5_0(const block_q5_0 *x, float *y, int64_t k) {
    for (int64_t i = 0; i < k / QK; i++) {
        const float d = fp16_to_f32(x[i].d);
        uint32_t qh;
        std::memcpy(&qh, x[i].qh, sizeof qh);
        for (int j = 0; j < QK / 2; ++j) {
            const uint8_t xh_0 = ((qh >> (j + 0)) << 4) & 0x10;
            const uint8_t xh_1 = ((qh >> (j + 12))) & 0x10;
            const int32_t x0 = ((x[i].qs[j] & 0x0F) | xh_0) - 16;
            const int32_t x1 = ((x[i].qs[j] >> 4) | xh_1) - 16;
            y[i * QK + j] = x0 * d;
            y[i * QK + j + QK / 2] = x1 * d;
        }
    }
}

void dequant_q5_1(const block_q5_1 *x, float *y, int64_t k) {
    for (int64_t i = 0; i < k / QK; i++) {
        const float d = fp16_to_f32(x[i].d), m = fp16_to_f32(x[i].m);
        uint32_t qh;
        std::memcpy(&qh, x[i].qh, sizeof qh);
        for (int j = 0; j < QK / 2; ++j) {
            const uint8_t xh_0 = ((qh >> (j + 0)) << 4) & 0x10;
            const uint8_t xh_1 = ((qh >> (j + 12))) & 0x10;
            const int x0 = (x[i].qs[j] & 0x0F) | xh_0;
            const int x1 = (x[i].qs[j] >> 4) | xh_1;
            y[i * QK + j] = x0 * d + m;
            y[i * QK + j + QK / 2] = x1 * d + m;
        }
    }
}

void dequant_q8_0(const block_q8_0 *x, float *y, int64_t k) {
    for (int64_t i = 0; i < k / QK; i++) {
        const float d = fp16_to_f32(x[i].d);
        for (int j = 0; j < QK; ++j) y[i * QK + j] = x[i].qs[j] * d;
    }
}

void dequant_q8_1(const block_q8_1 *x, float *y, int64_t k) {
    for (int64_t i = 0; i < k / QK; i++) {
        const float d = fp16_to_f32(x[i].d);
        for (int j = 0; j < QK; ++j) y[i * QK + j] = x[i].qs[j] * d;
    }
}

void dequant_q4_K(const block_q4_K *x, float *y, int64_t k) {
    for (int64_t i = 0; i < k / QK_K; i++) {
        const uint8_t *q = x[i].qs;
        const float d = fp16_to_f32(x[i].d), min = fp16_to_f32(x[i].dmin);
        int is = 0;
        uint8_t sc, m;
        for (int j = 0; j < QK_K; j += 64) {
            get_scale_min_k4(is + 0, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
            for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
            q += 32;
            is += 2;
        }
    }
}

void dequant_q5_K(const block_q5_K *x, float *y, int64_t k) {
    for (int64_t i = 0; i < k / QK_K; i++) {
        const uint8_t *ql = x[i].qs;
        const uint8_t *qh = x[i].qh;
        const float d = fp16_to_f32(x[i].d), min = fp16_to_f32(x[i].dmin);
        int is = 0;
        uint8_t sc, m;
        uint8_t u1 = 1, u2 = 2;
        for (int j = 0; j < QK_K; j += 64) {
            get_scale_min_k4(is + 0, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; ++l) *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; ++l) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
            ql += 32;
            is += 2;
            u1 = static_cast<uint8_t>(u1 << 2);
            u2 = static_cast<uint8_t>(u2 << 2);
        }
    }
}

void dequant_q6_K(const block_q6_K *x, float *y, int64_t k) {
    for (int64_t i = 0; i < k / QK_K; i++) {
        const float d = fp16_to_f32(x[i].d);
        const uint8_t *ql = x[i].ql;
        const uint8_t *qh = x[i].qh;
        const int8_t *sc = x[i].scales;
        for (int n = 0; n < QK_K; n += 128) {
            for (int l = 0; l < 32; ++l) {
                int is = l / 16;
                const int8_t q1 = static_cast<int8_t>((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int8_t q2 = static_cast<int8_t>((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int8_t q3 = static_cast<int8_t>((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int8_t q4 = static_cast<int8_t>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l + 0] = d * sc[is + 0] * q1;
                y[l + 32] = d * sc[is + 2] * q2;
                y[l + 64] = d * sc[is + 4] * q3;
                y[l + 96] = d * sc[is + 6] * q4;
            }
            y += 128;
            ql += 64;
            qh += 32;
            sc += 8;
        }
    }
}

void dequant_q8_K(const block_q8_K *x, float *y, int64_t k) {
    for (int64_t i = 0; i < k / QK_K; i++)
        for (int j = 0; j < QK_K; ++j) *y++ = x[i].d * x[i].qs[j];
}

[[noreturn]] void fail(const char *what, uint32_t type, int64_t n) {
    const type_traits *t = find_type(type);
    throw quant_error(std::string(what) + ": type " + (t ? std::string(t->name) : std::to_string(type)) +
                      " with n=" + std::to_string(n) +
                      (t && has_reference(type) ? " (n must be a multiple of " + std::to_string(t->block_elems) + ")"
                                                : " (no reference quantizer for this type)"));
}

void check(const char *what, uint32_t type, int64_t n) {
    const type_traits *t = find_type(type);
    if (!t || !has_reference(type) || n < 0 || n % t->block_elems != 0) fail(what, type, n);
}

} // namespace

bool has_reference(uint32_t type) {
    switch (type) {
    case kF32: case kF16: case kBF16: case kQ4_0: case kQ4_1: case kQ5_0: case kQ5_1: case kQ8_0:
    case kQ8_1: case kQ4_K: case kQ5_K: case kQ6_K: case kQ8_K:
        return true;
    default:
        return false;
    }
}

void quantize_row(uint32_t type, const float *x, void *vy, int64_t n) {
    check("quantize_row", type, n);
    switch (type) {
    case kF32: std::memcpy(vy, x, static_cast<size_t>(n) * 4); break;
    case kF16: {
        auto *y = static_cast<uint16_t *>(vy);
        for (int64_t i = 0; i < n; ++i) y[i] = f32_to_fp16(x[i]);
        break;
    }
    case kBF16: {
        auto *y = static_cast<uint16_t *>(vy);
        for (int64_t i = 0; i < n; ++i) y[i] = f32_to_bf16(x[i]);
        break;
    }
    case kQ4_0: quantize_q4_0(x, static_cast<block_q4_0 *>(vy), n); break;
    case kQ4_1: quantize_q4_1(x, static_cast<block_q4_1 *>(vy), n); break;
    case kQ5_0: quantize_q5_0(x, static_cast<block_q5_0 *>(vy), n); break;
    case kQ5_1: quantize_q5_1(x, static_cast<block_q5_1 *>(vy), n); break;
    case kQ8_0: quantize_q8_0(x, static_cast<block_q8_0 *>(vy), n); break;
    case kQ8_1: quantize_q8_1(x, static_cast<block_q8_1 *>(vy), n); break;
    case kQ4_K: quantize_q4_K(x, static_cast<block_q4_K *>(vy), n); break;
    case kQ5_K: quantize_q5_K(x, static_cast<block_q5_K *>(vy), n); break;
    case kQ6_K: quantize_q6_K(x, static_cast<block_q6_K *>(vy), n); break;
    case kQ8_K: quantize_q8_K(x, static_cast<block_q8_K *>(vy), n); break;
    }
}

void dequantize_row(uint32_t type, const void *vx, float *y, int64_t n) {
    check("dequantize_row", type, n);
    switch (type) {
    case kF32: std::memcpy(y, vx, static_cast<size_t>(n) * 4); break;
    case kF16: {
        auto *x = static_cast<const uint16_t *>(vx);
        for (int64_t i = 0; i < n; ++i) y[i] = fp16_to_f32(x[i]);
        break;
    }
    case kBF16: {
        auto *x = static_cast<const uint16_t *>(vx);
        for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_f32(x[i]);
        break;
    }
    case kQ4_0: dequant_q4_0(static_cast<const block_q4_0 *>(vx), y, n); break;
    case kQ4_1: dequant_q4_1(static_cast<const block_q4_1 *>(vx), y, n); break;
    case kQ5_0: dequant_q5_0(static_cast<const block_q5_0 *>(vx), y, n); break;
    case kQ5_1: dequant_q5_1(static_cast<const block_q5_1 *>(vx), y, n); break;
    case kQ8_0: dequant_q8_0(static_cast<const block_q8_0 *>(vx), y, n); break;
    case kQ8_1: dequant_q8_1(static_cast<const block_q8_1 *>(vx), y, n); break;
    case kQ4_K: dequant_q4_K(static_cast<const block_q4_K *>(vx), y, n); break;
    case kQ5_K: dequant_q5_K(static_cast<const block_q5_K *>(vx), y, n); break;
    case kQ6_K: dequant_q6_K(static_cast<const block_q6_K *>(vx), y, n); break;
    case kQ8_K: dequant_q8_K(static_cast<const block_q8_K *>(vx), y, n); break;
    }
}

} // namespace skulk::quant
