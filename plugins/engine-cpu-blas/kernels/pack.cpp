// Repacks ggml rows into the 16-row panels described in pack.hpp.
#include "pack.hpp"

#include "quant/fp16.hpp"

#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>

namespace skulk::cpu::detail {
namespace {
namespace q = skulk::quant;

// The 32 codes of a legacy block, unsigned (with the 5th bit; Q8_0 as q^0x80).
void legacy_codes(uint32_t type, const uint8_t *blk, uint8_t *out) {
    const uint8_t *qs = nullptr;
    uint32_t qh = 0;
    switch (type) {
    case q::kQ8_0: {
        auto *b = reinterpret_cast<const q::block_q8_0 *>(blk);
        for (int e = 0; e < 32; ++e) out[e] = static_cast<uint8_t>(b->qs[e]) ^ 0x80;
        return;
    }
    case q::kQ4_0: qs = reinterpret_cast<const q::block_q4_0 *>(blk)->qs; break;
    case q::kQ4_1: qs = reinterpret_cast<const q::block_q4_1 *>(blk)->qs; break;
    case q::kQ5_0:
        qs = reinterpret_cast<const q::block_q5_0 *>(blk)->qs;
        std::memcpy(&qh, reinterpret_cast<const q::block_q5_0 *>(blk)->qh, 4);
        break;
    case q::kQ5_1:
        qs = reinterpret_cast<const q::block_q5_1 *>(blk)->qs;
        std::memcpy(&qh, reinterpret_cast<const q::block_q5_1 *>(blk)->qh, 4);
        break;
    }
    for (int e = 0; e < 16; ++e) {
        out[e] = static_cast<uint8_t>((qs[e] & 0xF) | (((qh >> e) & 1u) << 4));
        out[e + 16] = static_cast<uint8_t>((qs[e] >> 4) | (((qh >> (e + 16)) & 1u) << 4));
    }
}

// The 256 codes of a K-quant super-block, unsigned (Q5_K with its 5th bit,
// Q6_K with its two high bits).
void kquant_codes(uint32_t type, const uint8_t *blk, uint8_t *out) {
    if (type == q::kQ6_K) {
        auto *b = reinterpret_cast<const q::block_q6_K *>(blk);
        for (int h = 0; h < 2; ++h)
            for (int l = 0; l < 32; ++l) {
                const uint8_t ql0 = b->ql[64 * h + l], ql1 = b->ql[64 * h + l + 32], qh = b->qh[32 * h + l];
                out[128 * h + l] = static_cast<uint8_t>((ql0 & 0xF) | ((qh & 3) << 4));
                out[128 * h + l + 32] = static_cast<uint8_t>((ql1 & 0xF) | (((qh >> 2) & 3) << 4));
                out[128 * h + l + 64] = static_cast<uint8_t>((ql0 >> 4) | (((qh >> 4) & 3) << 4));
                out[128 * h + l + 96] = static_cast<uint8_t>((ql1 >> 4) | (((qh >> 6) & 3) << 4));
            }
        return;
    }
    const bool five = type == q::kQ5_K;
    const uint8_t *qs = five ? reinterpret_cast<const q::block_q5_K *>(blk)->qs
                             : reinterpret_cast<const q::block_q4_K *>(blk)->qs;
    const uint8_t *qh = five ? reinterpret_cast<const q::block_q5_K *>(blk)->qh : nullptr;
    for (int j = 0; j < 8; ++j)
        for (int l = 0; l < 32; ++l) {
            int v = (j & 1) ? (qs[32 * (j / 2) + l] >> 4) : (qs[32 * (j / 2) + l] & 0xF);
            if (five && ((qh[l] >> j) & 1)) v += 16;
            out[32 * j + l] = static_cast<uint8_t>(v);
        }
}

// Writes the codes of 32 elements for 16 rows (code(r, e), r < nrows else 0)
// as 4-bit nibble loads plus up to two high-bit mask sets.
template <class Code>
void put_nibbles(uint8_t *codes, uint64_t *mask4, uint64_t *mask5, int nrows, Code code) {
    std::memset(codes, 0, 256);
    if (mask4) std::memset(mask4, 0, 64);
    if (mask5) std::memset(mask5, 0, 64);
    uint64_t m4[8] = {}, m5[8] = {};
    for (int r = 0; r < nrows; ++r)
        for (int e = 0; e < 32; ++e) {
            const int c = code(r, e);
            const int g = e / 4, b = e % 4;
            codes[64 * (g % 4) + 4 * r + b] |= static_cast<uint8_t>((c & 0xF) << (g < 4 ? 0 : 4));
            m4[g] |= static_cast<uint64_t>((c >> 4) & 1) << (4 * r + b);
            m5[g] |= static_cast<uint64_t>((c >> 5) & 1) << (4 * r + b);
        }
    if (mask4) std::memcpy(mask4, m4, sizeof m4);
    if (mask5) std::memcpy(mask5, m5, sizeof m5);
}

void pack_legacy(uint32_t type, const PanelLayout &pl, const uint8_t *src, size_t row_bytes, size_t blk_bytes,
                 int nrows, int64_t nb, uint8_t *dst) {
    const bool has_m = type == q::kQ4_1 || type == q::kQ5_1;
    const bool five = type == q::kQ5_0 || type == q::kQ5_1;
    for (int64_t b = 0; b < nb; ++b) {
        uint8_t *rec = dst + static_cast<size_t>(b) * pl.block_bytes;
        std::memset(rec, 0, pl.block_bytes);
        auto *d = reinterpret_cast<uint16_t *>(rec);
        auto *m = reinterpret_cast<uint16_t *>(rec + pl.m_off);
        auto blk = [&](int r) { return src + static_cast<size_t>(r) * row_bytes + static_cast<size_t>(b) * blk_bytes; };
        for (int r = 0; r < nrows; ++r) {
            std::memcpy(&d[r], blk(r), 2); // d is the first field of every legacy block
            if (has_m) std::memcpy(&m[r], blk(r) + 2, 2);
        }
        uint8_t *codes = rec + pl.codes_off;
        uint8_t dec[kPanelRows][32]; // each row's codes, decoded once
        for (int r = 0; r < nrows; ++r)
            legacy_codes(type, blk(r), dec[r]);
        if (type == q::kQ8_0) {
            for (int r = 0; r < nrows; ++r)
                for (int e = 0; e < 32; ++e) codes[64 * (e / 4) + 4 * r + e % 4] = dec[r][e];
        } else {
            put_nibbles(codes, five ? reinterpret_cast<uint64_t *>(rec + pl.h_off) : nullptr, nullptr, nrows,
                        [&](int r, int e) { return static_cast<int>(dec[r][e]); });
        }
    }
}

void pack_kquant(uint32_t type, const PanelLayout &pl, const uint8_t *src, size_t row_bytes, size_t blk_bytes,
                 int nrows, int64_t nb, uint8_t *dst) {
    for (int64_t b = 0; b < nb; ++b) {
        uint8_t *rec = dst + static_cast<size_t>(b) * pl.block_bytes;
        std::memset(rec, 0, pl.block_bytes);
        auto blk = [&](int r) { return src + static_cast<size_t>(r) * row_bytes + static_cast<size_t>(b) * blk_bytes; };
        auto *d = reinterpret_cast<uint16_t *>(rec);
        for (int r = 0; r < nrows; ++r) {
            if (type == q::kQ6_K) {
                auto *x = reinterpret_cast<const q::block_q6_K *>(blk(r));
                d[r] = x->d;
                for (int i = 0; i < 16; ++i) reinterpret_cast<int8_t *>(rec + 32)[16 * i + r] = x->scales[i];
            } else {
                const uint8_t *scales = type == q::kQ4_K ? reinterpret_cast<const q::block_q4_K *>(blk(r))->scales
                                                         : reinterpret_cast<const q::block_q5_K *>(blk(r))->scales;
                std::memcpy(&d[r], blk(r), 2);
                std::memcpy(reinterpret_cast<uint16_t *>(rec + 32) + r, blk(r) + 2, 2);
                for (int j = 0; j < 8; ++j) {
                    uint8_t sc, m;
                    q::get_scale_min_k4(j, scales, &sc, &m);
                    rec[64 + 16 * j + r] = sc;
                    rec[192 + 16 * j + r] = m;
                }
            }
        }
        uint8_t dec[kPanelRows][256]; // each row's codes, decoded once
        for (int r = 0; r < nrows; ++r)
            kquant_codes(type, blk(r), dec[r]);
        for (int j = 0; j < 8; ++j) {
            uint8_t *sub = rec + pl.sub_off + static_cast<size_t>(j) * pl.sub_bytes;
            auto code = [&](int r, int e) { return static_cast<int>(dec[r][32 * j + e]); };
            if (type == q::kQ4_K)
                put_nibbles(sub, nullptr, nullptr, nrows, code);
            else if (type == q::kQ5_K)
                put_nibbles(sub + 64, reinterpret_cast<uint64_t *>(sub), nullptr, nrows, code);
            else
                put_nibbles(sub + 128, reinterpret_cast<uint64_t *>(sub), reinterpret_cast<uint64_t *>(sub + 64),
                            nrows, code);
        }
    }
}

// Slabs of 2 MiB huge pages shared by the packed matrices smaller than 2 MiB:
// a bump allocator per slab, and a slab is freed when its last matrix goes
// (refs counts matrices; an unused remainder is simply dropped with it).
constexpr size_t kHuge = size_t(2) << 20;
constexpr size_t kSlabBytes = 16 * kHuge;

struct Slab {
    uint8_t *base;
    size_t used;
    int refs;
};

std::mutex g_slab_mutex;
Slab *g_slab = nullptr; // the slab new matrices go into

// bytes: a multiple of 64, so every matrix starts on a cache line.
uint8_t *slab_alloc(size_t bytes, void **slab_out) {
    std::lock_guard<std::mutex> lock(g_slab_mutex);
    if (!g_slab || g_slab->used + bytes > kSlabBytes) {
        auto *s = new Slab{static_cast<uint8_t *>(std::aligned_alloc(kHuge, kSlabBytes)), 0, 0};
        if (!s->base) {
            delete s;
            throw std::bad_alloc();
        }
        madvise(s->base, kSlabBytes, MADV_HUGEPAGE);
        g_slab = s; // the full one lives on until its last matrix is released
    }
    uint8_t *p = g_slab->base + g_slab->used;
    g_slab->used += bytes;
    ++g_slab->refs;
    *slab_out = g_slab;
    return p;
}

} // namespace

void release_panels(void *slab) {
    auto *s = static_cast<Slab *>(slab);
    std::lock_guard<std::mutex> lock(g_slab_mutex);
    if (--s->refs > 0) return;
    if (s == g_slab) g_slab = nullptr;
    std::free(s->base);
    delete s;
}

void pack_panels(PackedMatrix &w, const void *data) {
    const PanelLayout pl = panel_layout(w.type);
    const int64_t nb = w.cols / pl.block_elems;
    const int64_t npanels = (w.rows + kPanelRows - 1) / kPanelRows;
    const size_t blk_bytes = w.row_bytes / static_cast<size_t>(nb);
    w.panel_bytes = pl.block_bytes * static_cast<size_t>(nb);
    // All panels live in 2 MiB-aligned memory with transparent huge pages
    // (cpu-kernels.md section 4): big matrices in their own allocation, the
    // many small ones (every per-layer matrix of a 135M model) packed back to
    // back into shared slabs. On 4 KiB pages a decode step takes a TLB miss
    // every 4 KiB of weights, an expensive nested page walk in a VM.
    const size_t total = w.panel_bytes * static_cast<size_t>(npanels);
    if (total >= kHuge) {
        const size_t alloc = (total + kHuge - 1) / kHuge * kHuge;
        w.owned = static_cast<uint8_t *>(std::aligned_alloc(kHuge, alloc));
        if (!w.owned) throw std::bad_alloc();
        w.owned_size = alloc;
        madvise(w.owned, alloc, MADV_HUGEPAGE);
    } else {
        w.owned_size = (total + 63) / 64 * 64;
        w.owned = slab_alloc(w.owned_size, &w.slab);
    }
    const auto *src = static_cast<const uint8_t *>(data);
    for (int64_t p = 0; p < npanels; ++p) {
        const int nrows = static_cast<int>(w.rows - p * kPanelRows < kPanelRows ? w.rows - p * kPanelRows : kPanelRows);
        const uint8_t *psrc = src + static_cast<size_t>(p * kPanelRows) * w.row_bytes;
        uint8_t *pdst = w.owned + static_cast<size_t>(p) * w.panel_bytes;
        if (pl.block_elems == 32)
            pack_legacy(w.type, pl, psrc, w.row_bytes, blk_bytes, nrows, nb, pdst);
        else
            pack_kquant(w.type, pl, psrc, w.row_bytes, blk_bytes, nrows, nb, pdst);
    }
    w.data = w.owned;
}

} // namespace skulk::cpu::detail
