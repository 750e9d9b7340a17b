#include "quant/types.hpp"

#include <array>

namespace skulk::quant {
namespace {

// ggml's block layouts (ggml-common.h), as GGUF files store them.
constexpr std::array<type_traits, 15> kTypes{{
    {0, "F32", 1, 4},      {1, "F16", 1, 2},      {2, "Q4_0", 32, 18},   {3, "Q4_1", 32, 20},
    {6, "Q5_0", 32, 22},   {7, "Q5_1", 32, 24},   {8, "Q8_0", 32, 34},   {9, "Q8_1", 32, 36},
    {10, "Q2_K", 256, 84}, {11, "Q3_K", 256, 110}, {12, "Q4_K", 256, 144}, {13, "Q5_K", 256, 176},
    {14, "Q6_K", 256, 210}, {15, "Q8_K", 256, 292}, {30, "BF16", 1, 2},
}};

} // namespace

const type_traits *find_type(uint32_t id) {
    for (const auto &t : kTypes)
        if (t.id == id) return &t;
    return nullptr;
}

const type_traits *find_type(std::string_view name) {
    for (const auto &t : kTypes)
        if (t.name == name) return &t;
    return nullptr;
}

std::optional<uint64_t> row_bytes(uint32_t type_id, uint64_t n) {
    const type_traits *t = find_type(type_id);
    if (!t || n % t->block_elems != 0) return std::nullopt;
    return n / t->block_elems * t->block_bytes;
}

} // namespace skulk::quant
