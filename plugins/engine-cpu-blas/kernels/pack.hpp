// Repacked weight layout for the SIMD kernels (filled in by pack.cpp).
#pragma once

#include "matmul.hpp"

#include <cstddef>
#include <cstdint>

namespace skulk::cpu::detail {

constexpr int kPanelRows = 16;

bool has_panel_layout(uint32_t gguf_type);
void pack_panels(PackedMatrix &w, const void *data);

} // namespace skulk::cpu::detail
