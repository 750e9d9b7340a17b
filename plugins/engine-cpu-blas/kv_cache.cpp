#include "kv_cache.hpp"

#include "half.hpp"

#include <algorithm>
#include <cstring>
#include <new>
#include <stdexcept>

#include <sys/mman.h>

namespace skulk::cpu {

namespace {
// Zeroed memory, 2 MiB aligned and marked for huge pages when it is big.
uint8_t *alloc_kv(size_t bytes) {
    constexpr size_t huge = size_t(2) << 20;
    const size_t align = bytes >= huge ? huge : 64;
    const size_t size = std::max<size_t>((bytes + align - 1) / align * align, align);
    auto *p = static_cast<uint8_t *>(std::aligned_alloc(align, size));
    if (!p) throw std::bad_alloc();
    if (align == huge) madvise(p, size, MADV_HUGEPAGE);
    std::memset(p, 0, size);
    return p;
}
} // namespace

KvCache::KvCache(int n_layer, int n_seq, int n_ctx, int n_head_kv, int64_t head_dim_k, int64_t head_dim_v,
                 KvType type)
    : n_layer_(n_layer), n_seq_(n_seq), n_ctx_(n_ctx), n_head_kv_(n_head_kv), hk_(head_dim_k), hv_(head_dim_v),
      type_(type), elem_(type == KvType::f32 ? 4 : 2) {
    if (n_seq <= 0 || n_ctx <= 0) throw std::invalid_argument("kv cache: n_seq_max and n_ctx must be positive");
    if (n_head_kv <= 0) throw std::invalid_argument("kv cache: n_head_kv must be positive");
    const size_t rows = static_cast<size_t>(std::max(n_layer, 0)) * n_seq * n_ctx * n_head_kv;
    k_bytes_ = rows * hk_ * elem_;
    v_bytes_ = rows * hv_ * elem_;
    k_.reset(alloc_kv(k_bytes_));
    v_.reset(alloc_kv(v_bytes_));
    present_.assign(static_cast<size_t>(n_seq) * n_ctx, 0);
}

void KvCache::from_f32(const float *src, int64_t n, uint8_t *dst) const {
    switch (type_) {
    case KvType::f32: std::memcpy(dst, src, n * 4); break;
    case KvType::f16: f32_to_f16_row(src, reinterpret_cast<uint16_t *>(dst), n); break;
    case KvType::bf16: f32_to_bf16_row(src, reinterpret_cast<uint16_t *>(dst), n); break;
    }
}

void KvCache::store(int layer, uint32_t seq, int32_t pos, const float *k, const float *v) {
    for (int h = 0; h < n_head_kv_; ++h) {
        from_f32(k + h * hk_, hk_, &k_[offset(layer, seq, h, pos, hk_)]);
        from_f32(v + h * hv_, hv_, &v_[offset(layer, seq, h, pos, hv_)]);
    }
}

void KvCache::to_f32(const uint8_t *src, int64_t n, float *out) const {
    switch (type_) {
    case KvType::f32: std::memcpy(out, src, n * 4); break;
    case KvType::f16: f16_to_f32_row(reinterpret_cast<const uint16_t *>(src), out, n); break;
    case KvType::bf16: bf16_to_f32_row(reinterpret_cast<const uint16_t *>(src), out, n); break;
    }
}

void KvCache::rows_to_f32(const uint8_t *base, int64_t hd, int layer, uint32_t seq, int32_t pos, int count,
                          float *out) const {
    for (int i = 0; i < count; ++i)
        for (int h = 0; h < n_head_kv_; ++h)
            to_f32(base + offset(layer, seq, h, pos + i, hd), hd, out + (static_cast<int64_t>(i) * n_head_kv_ + h) * hd);
}

void KvCache::k_to_f32(int layer, uint32_t seq, int32_t pos, int count, float *out) const {
    rows_to_f32(k_.get(), hk_, layer, seq, pos, count, out);
}

void KvCache::v_to_f32(int layer, uint32_t seq, int32_t pos, int count, float *out) const {
    rows_to_f32(v_.get(), hv_, layer, seq, pos, count, out);
}

void KvCache::drop(uint32_t seq, int32_t p0, int32_t p1) {
    if (seq >= static_cast<uint32_t>(n_seq_)) throw std::out_of_range("seq_drop: sequence id out of range");
    p0 = std::clamp(p0, 0, n_ctx_);
    p1 = (p1 < 0 || p1 > n_ctx_) ? n_ctx_ : p1;
    if (p1 > p0) std::fill(&present_[index(seq, p0)], &present_[index(seq, p0)] + (p1 - p0), 0);
}

void KvCache::copy(uint32_t src, uint32_t dst, int32_t p1) {
    if (src >= static_cast<uint32_t>(n_seq_) || dst >= static_cast<uint32_t>(n_seq_))
        throw std::out_of_range("seq_copy: sequence id out of range");
    if (src == dst) return;
    p1 = (p1 < 0 || p1 > n_ctx_) ? n_ctx_ : p1;
    for (int l = 0; l < n_layer_; ++l)
        for (int h = 0; h < n_head_kv_; ++h) {
            std::memcpy(&k_[offset(l, dst, h, 0, hk_)], &k_[offset(l, src, h, 0, hk_)], p1 * hk_ * elem_);
            std::memcpy(&v_[offset(l, dst, h, 0, hv_)], &v_[offset(l, src, h, 0, hv_)], p1 * hv_ * elem_);
        }
    std::memcpy(&present_[index(dst, 0)], &present_[index(src, 0)], p1);
    std::fill(&present_[index(dst, 0)] + p1, &present_[index(dst, 0)] + n_ctx_, 0);
}

} // namespace skulk::cpu
