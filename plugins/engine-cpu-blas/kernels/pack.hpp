// Repacked weight layout for the SIMD kernels: 16-row panels.
//
// A panel holds rows 16p..16p+15 over the whole of K, block after block, so
// one thread streams it linearly. Within a block the 16 rows are interleaved
// 4 k-bytes per row per 32-bit lane: one 64-byte load holds 16 rows x 4 codes
// and one VPDPBUSD against a broadcast dword of activations yields 16 row
// sums. Codes stay unsigned (nibbles; Q8_0 as q^0x80); the kernels subtract
// the offset times the activation block sum instead of sign tricks.
//
// 4-bit codes of a 32-element block (4 loads): byte 4r+b of load L holds
// element 4L+b of row r in its low nibble and element 16+4L+b in its high
// nibble, so "group" g (elements 4g..4g+3) is the low nibbles of load g for
// g < 4 and the high nibbles of load g-4 otherwise. The 5th (and Q6_K's 6th)
// bit of group g is a 64-bit mask, bit 4r+b, expanded with a masked byte add.
//
// Per-block records (f16 fields as 16 consecutive halves, one per row):
//   Q4_0  d | codes(256)                              = 288 B
//   Q4_1  d | m | codes                               = 320 B
//   Q5_0  d | hmask[8] u64 | codes                    = 352 B
//   Q5_1  d | m | hmask[8] | codes                    = 384 B
//   Q8_0  d | codes(512): load g = group g, q^0x80    = 544 B
//   Q4_K  d | dmin | sc[8][16] u8 | m[8][16] u8 | 8 x codes           = 2368 B
//   Q5_K  d | dmin | sc | m | 8 x (hmask[8] | codes)                  = 2880 B
//   Q6_K  d | sc[16][16] i8 | 8 x (bit4 mask[8] | bit5 mask[8] | codes) = 3360 B
// Rows past the end of the matrix are zero (their results are never stored).
// F32/F16/BF16 are not repacked: their kernels read the ggml rows.
#pragma once

#include "matmul.hpp"
#include "quant/blocks.hpp"

#include <cstddef>
#include <cstdint>

namespace skulk::cpu::detail {

constexpr int kPanelRows = 16;

struct PanelLayout {
    size_t block_bytes = 0; // bytes per (panel, block) record; 0: not repacked
    int block_elems = 0;    // 32 or 256
    size_t m_off = 0, h_off = 0, codes_off = 0;  // legacy formats
    size_t sub_off = 0, sub_bytes = 0;           // K-quants: the 8 sub-blocks of 32
};

constexpr PanelLayout panel_layout(uint32_t type) {
    namespace q = skulk::quant;
    switch (type) {
    case q::kQ4_0: return {288, 32, 0, 0, 32, 0, 0};
    case q::kQ4_1: return {320, 32, 32, 0, 64, 0, 0};
    case q::kQ5_0: return {352, 32, 0, 32, 96, 0, 0};
    case q::kQ5_1: return {384, 32, 32, 64, 128, 0, 0};
    case q::kQ8_0: return {544, 32, 0, 0, 32, 0, 0};
    case q::kQ4_K: return {2368, 256, 0, 0, 0, 320, 256};
    case q::kQ5_K: return {2880, 256, 0, 0, 0, 320, 320};
    case q::kQ6_K: return {3360, 256, 0, 0, 0, 288, 384};
    default: return {};
    }
}

inline bool has_panel_layout(uint32_t type) { return panel_layout(type).block_bytes != 0; }

// Fills w.owned/w.data/w.panel_bytes (and w.slab) from the ggml rows at data.
void pack_panels(PackedMatrix &w, const void *data);
// Drops a matrix's reference to its slab (PackedMatrix's destructor).
void release_panels(void *slab);

} // namespace skulk::cpu::detail
