#include "kv-cache.hpp"

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

KvCache::KvCache(int n_layer, int n_seq, int n_ctx, int64_t k_dim, int64_t v_dim, KvType type)
    : n_layer_(n_layer), n_seq_(n_seq), n_ctx_(n_ctx), k_dim_(k_dim), v_dim_(v_dim), type_(type),
      elem_(type == KvType::f32 ? 4 : 2) {
    if (n_seq <= 0 || n_ctx <= 0) throw std::invalid_argument("kv cache: n_seq_max and n_ctx must be positive");
    const size_t rows = static_cast<size_t>(std::max(n_layer, 0)) * n_seq * n_ctx;
    k_bytes_ = rows * k_dim * elem_;
    v_bytes_ = rows * v_dim * elem_;
    k_.reset(alloc_kv(k_bytes_));
    v_.reset(alloc_kv(v_bytes_));
    present_.assign(static_cast<size_t>(n_seq) * n_ctx, 0);
}

void KvCache::store(int layer, uint32_t seq, int32_t pos, const float *k, const float *v) {
    uint8_t *kd = &k_[offset(layer, seq, pos, k_dim_)];
    uint8_t *vd = &v_[offset(layer, seq, pos, v_dim_)];
    switch (type_) {
    case KvType::f32:
        std::memcpy(kd, k, k_dim_ * 4);
        std::memcpy(vd, v, v_dim_ * 4);
        break;
    case KvType::f16:
        f32_to_f16_row(k, reinterpret_cast<uint16_t *>(kd), k_dim_);
        f32_to_f16_row(v, reinterpret_cast<uint16_t *>(vd), v_dim_);
        break;
    case KvType::bf16:
        f32_to_bf16_row(k, reinterpret_cast<uint16_t *>(kd), k_dim_);
        f32_to_bf16_row(v, reinterpret_cast<uint16_t *>(vd), v_dim_);
        break;
    }
}

void KvCache::to_f32(const uint8_t *src, int64_t n, float *out) const {
    switch (type_) {
    case KvType::f32: std::memcpy(out, src, n * 4); break;
    case KvType::f16: f16_to_f32_row(reinterpret_cast<const uint16_t *>(src), out, n); break;
    case KvType::bf16: bf16_to_f32_row(reinterpret_cast<const uint16_t *>(src), out, n); break;
    }
}

void KvCache::k_to_f32(int layer, uint32_t seq, int32_t pos, int count, float *out) const {
    to_f32(&k_[offset(layer, seq, pos, k_dim_)], k_dim_ * count, out);
}

void KvCache::v_to_f32(int layer, uint32_t seq, int32_t pos, int count, float *out) const {
    to_f32(&v_[offset(layer, seq, pos, v_dim_)], v_dim_ * count, out);
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
    for (int l = 0; l < n_layer_; ++l) {
        std::memcpy(&k_[offset(l, dst, 0, k_dim_)], &k_[offset(l, src, 0, k_dim_)], p1 * k_dim_ * elem_);
        std::memcpy(&v_[offset(l, dst, 0, v_dim_)], &v_[offset(l, src, 0, v_dim_)], p1 * v_dim_ * elem_);
    }
    std::memcpy(&present_[index(dst, 0)], &present_[index(src, 0)], p1);
    std::fill(&present_[index(dst, 0)] + p1, &present_[index(dst, 0)] + n_ctx_, 0);
}

} // namespace skulk::cpu
