#include "activations.hpp"

#include "dispatch.hpp"

#include "matmul.hpp"
#include "quant/blocks.hpp"
#include "quant/fp16.hpp"
#include "quant/reference.hpp"
#include "quant/types.hpp"

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

namespace skulk::cpu {
namespace q = skulk::quant;
using namespace detail;

namespace {
constexpr size_t align64(size_t n) { return (n + 63) & ~size_t(63); }

std::string type_label(uint32_t type) {
    const q::type_traits *t = q::find_type(type);
    return t ? std::string(t->name) : "type id " + std::to_string(type);
}
} // namespace

namespace detail {

ActLayout act_layout(uint32_t type, int64_t cols) {
    ActLayout l{};
    switch (type) {
    case q::kF32: case q::kF16: case q::kBF16: l.kind = ActKind::f32; break;
    case q::kQ4_0: case q::kQ4_1: case q::kQ5_0: case q::kQ5_1: case q::kQ8_0: l.kind = ActKind::q8_32; break;
    case q::kQ4_K: case q::kQ5_K: case q::kQ6_K: l.kind = ActKind::q8_k; break;
    default: throw std::invalid_argument("cpu kernels: no matmul kernel for " + type_label(type));
    }
    const int64_t blk = l.kind == ActKind::f32 ? 1 : l.kind == ActKind::q8_32 ? q::QK : q::QK_K;
    if (cols <= 0 || cols % blk != 0)
        throw std::invalid_argument("cpu kernels: " + type_label(type) + " needs cols to be a positive multiple of " +
                                    std::to_string(blk) + ", got " + std::to_string(cols));
    l.cols = cols;
    l.nb = cols / blk;
    const auto n = static_cast<size_t>(cols);
    const auto nb = static_cast<size_t>(l.nb);
    switch (l.kind) {
    case ActKind::f32: l.stride = align64(n * 4); break;
    case ActKind::q8_32:
        l.d_off = align64(n);
        l.sum_off = l.d_off + align64(nb * 4);
        l.stride = l.sum_off + align64(nb * 4);
        break;
    case ActKind::q8_k:
        l.d_off = align64(n);
        l.sum_off = l.d_off + align64(nb * 4);
        l.sum32_off = l.sum_off + align64(nb * 16 * 2);
        l.stride = l.sum32_off + align64(nb * 8 * 2);
        break;
    }
    return l;
}

} // namespace detail

size_t quantized_activation_bytes(uint32_t gguf_type, int64_t cols, int n_tokens) {
    return act_layout(gguf_type, cols).stride * static_cast<size_t>(n_tokens < 0 ? 0 : n_tokens);
}

void quantize_activations(uint32_t gguf_type, const float *x, int64_t cols, int n_tokens, void *qx) {
    quantize_activations_for(active_isa(), gguf_type, x, cols, n_tokens, qx);
}

void detail::quantize_activations_for(Isa isa, uint32_t gguf_type, const float *x, int64_t cols, int n_tokens,
                                      void *qx) {
    const ActLayout l = act_layout(gguf_type, cols);
    const bool avx512 = isa == Isa::avx512vnni && isa_available(isa);
    for (int t = 0; t < n_tokens; ++t) {
        const float *xt = x + static_cast<size_t>(t) * static_cast<size_t>(cols);
        auto *base = static_cast<uint8_t *>(qx) + l.stride * static_cast<size_t>(t);
        if (l.kind == ActKind::f32) {
            std::memcpy(base, xt, static_cast<size_t>(cols) * 4);
            continue;
        }
        auto *qs = reinterpret_cast<int8_t *>(base);
        auto *d = reinterpret_cast<float *>(base + l.d_off);
        if (avx512 && l.kind == ActKind::q8_32) {
            quantize_q8_32_avx512(xt, l.nb, qs, d, reinterpret_cast<int32_t *>(base + l.sum_off));
        } else if (avx512) {
            quantize_q8_k_avx512(xt, l.nb, qs, d, reinterpret_cast<int16_t *>(base + l.sum_off),
                                 reinterpret_cast<int16_t *>(base + l.sum32_off));
        } else if (l.kind == ActKind::q8_32) {
            // quantize_row_q8_0_ref: d = amax/127 stored as f16, q = round(x/d)
            // with the unrounded d (the kernels use the f16-rounded d).
            auto *sum = reinterpret_cast<int32_t *>(base + l.sum_off);
            for (int64_t b = 0; b < l.nb; ++b) {
                const float *xb = xt + b * q::QK;
                float amax = 0.0f;
                for (int j = 0; j < q::QK; ++j) amax = std::fmax(amax, std::fabs(xb[j]));
                const float db = amax / 127.0f;
                const float id = db != 0.0f ? 1.0f / db : 0.0f;
                int32_t s = 0;
                for (int j = 0; j < q::QK; ++j) {
                    const int v = static_cast<int>(std::round(xb[j] * id));
                    qs[b * q::QK + j] = static_cast<int8_t>(v);
                    s += v;
                }
                d[b] = q::round_fp16(db);
                sum[b] = s;
            }
        } else {
            auto *bsums = reinterpret_cast<int16_t *>(base + l.sum_off);
            auto *sums32 = reinterpret_cast<int16_t *>(base + l.sum32_off);
            q::block_q8_K blk;
            for (int64_t b = 0; b < l.nb; ++b) {
                q::quantize_row(q::kQ8_K, xt + b * q::QK_K, &blk, q::QK_K);
                std::memcpy(qs + b * q::QK_K, blk.qs, q::QK_K);
                d[b] = blk.d;
                for (int j = 0; j < 16; ++j) bsums[b * 16 + j] = blk.bsums[j];
                for (int j = 0; j < 8; ++j)
                    sums32[b * 8 + j] = static_cast<int16_t>(blk.bsums[2 * j] + blk.bsums[2 * j + 1]);
            }
        }
    }
}

} // namespace skulk::cpu
