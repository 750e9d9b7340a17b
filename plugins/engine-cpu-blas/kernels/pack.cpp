// Repacks ggml rows into the 16-row panels described in pack.hpp.
#include "pack.hpp"

#include "quant/fp16.hpp"

#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <new>

namespace skulk::cpu::detail {
namespace {
namespace q = skulk::quant;

// Element e (0..31) of a legacy block as an unsigned code (with the 5th bit).
int legacy_code(uint32_t type, const uint8_t *blk, int e) {
    auto nib = [](const uint8_t *qs, int e) { return e < 16 ? (qs[e] & 0xF) : (qs[e - 16] >> 4); };
    switch (type) {
    case q::kQ4_0: return nib(reinterpret_cast<const q::block_q4_0 *>(blk)->qs, e);
    case q::kQ4_1: return nib(reinterpret_cast<const q::block_q4_1 *>(blk)->qs, e);
    case q::kQ5_0: {
        auto *b = reinterpret_cast<const q::block_q5_0 *>(blk);
        uint32_t qh;
        std::memcpy(&qh, b->qh, 4);
        return nib(b->qs, e) | static_cast<int>(((qh >> e) & 1u) << 4);
    }
    case q::kQ5_1: {
        auto *b = reinterpret_cast<const q::block_q5_1 *>(blk);
        uint32_t qh;
        std::memcpy(&qh, b->qh, 4);
        return nib(b->qs, e) | static_cast<int>(((qh >> e) & 1u) << 4);
    }
    case q::kQ8_0: return static_cast<uint8_t>(reinterpret_cast<const q::block_q8_0 *>(blk)->qs[e]) ^ 0x80;
    }
    return 0;
}

// Element e (0..255) of a K-quant super-block as its unsigned code.
int kquant_code(uint32_t type, const uint8_t *blk, int e) {
    if (type == q::kQ6_K) {
        auto *b = reinterpret_cast<const q::block_q6_K *>(blk);
        const int h = e / 128, i = (e % 128) / 32, l = e % 32;
        const uint8_t ql = b->ql[64 * h + l + (i & 1) * 32];
        const int lo = (i < 2) ? (ql & 0xF) : (ql >> 4);
        const int hi = (b->qh[32 * h + l] >> (2 * i)) & 3;
        return lo | (hi << 4);
    }
    const int j = e / 32, l = e % 32;
    const uint8_t *qs = type == q::kQ4_K ? reinterpret_cast<const q::block_q4_K *>(blk)->qs
                                         : reinterpret_cast<const q::block_q5_K *>(blk)->qs;
    int v = (j & 1) ? (qs[32 * (j / 2) + l] >> 4) : (qs[32 * (j / 2) + l] & 0xF);
    if (type == q::kQ5_K && ((reinterpret_cast<const q::block_q5_K *>(blk)->qh[l] >> j) & 1)) v += 16;
    return v;
}

// Writes the codes of 32 elements for 16 rows (code(r, e), r < nrows else 0)
// as 4-bit nibble loads plus up to two high-bit mask sets.
template <class Code>
void put_nibbles(uint8_t *codes, uint64_t *mask4, uint64_t *mask5, int nrows, Code code) {
    std::memset(codes, 0, 256);
    if (mask4) std::memset(mask4, 0, 64);
    if (mask5) std::memset(mask5, 0, 64);
    for (int r = 0; r < nrows; ++r)
        for (int e = 0; e < 32; ++e) {
            const int c = code(r, e);
            const int g = e / 4, b = e % 4;
            const int load = g % 4;
            codes[64 * load + 4 * r + b] |= static_cast<uint8_t>((c & 0xF) << (g < 4 ? 0 : 4));
            if (mask4 && (c & 0x10)) mask4[g] |= uint64_t(1) << (4 * r + b);
            if (mask5 && (c & 0x20)) mask5[g] |= uint64_t(1) << (4 * r + b);
        }
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
        if (type == q::kQ8_0) {
            for (int r = 0; r < nrows; ++r)
                for (int e = 0; e < 32; ++e)
                    codes[64 * (e / 4) + 4 * r + e % 4] = static_cast<uint8_t>(legacy_code(type, blk(r), e));
        } else {
            put_nibbles(codes, five ? reinterpret_cast<uint64_t *>(rec + pl.h_off) : nullptr, nullptr, nrows,
                        [&](int r, int e) { return legacy_code(type, blk(r), e); });
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
        for (int j = 0; j < 8; ++j) {
            uint8_t *sub = rec + pl.sub_off + static_cast<size_t>(j) * pl.sub_bytes;
            auto code = [&](int r, int e) { return kquant_code(type, blk(r), 32 * j + e); };
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

} // namespace

void pack_panels(PackedMatrix &w, const void *data) {
    const PanelLayout pl = panel_layout(w.type);
    const int64_t nb = w.cols / pl.block_elems;
    const int64_t npanels = (w.rows + kPanelRows - 1) / kPanelRows;
    const size_t blk_bytes = w.row_bytes / static_cast<size_t>(nb);
    w.panel_bytes = pl.block_bytes * static_cast<size_t>(nb);
    // Big matrices go into 2 MiB-aligned memory with transparent huge pages:
    // fewer TLB misses while streaming the weights (cpu-kernels.md section 4).
    const size_t huge = size_t(2) << 20;
    const size_t total = w.panel_bytes * static_cast<size_t>(npanels);
    const size_t align = total >= huge ? huge : 64;
    const size_t alloc = (total + align - 1) / align * align;
    w.owned = static_cast<uint8_t *>(std::aligned_alloc(align, alloc));
    if (!w.owned) throw std::bad_alloc();
    w.owned_size = alloc;
    if (align == huge) madvise(w.owned, alloc, MADV_HUGEPAGE);
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
