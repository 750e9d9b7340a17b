#include "gguf/quant_mix.hpp"

#include "quant/types.hpp"

#include <skulk/abi.h>

#include <array>
#include <cstdio>

namespace skulk::model {

namespace {
constexpr std::array<QuantPlan, 13> kPlans{{
    {"F32", SKULK_TYPE_F32, false, 0},    {"F16", SKULK_TYPE_F16, false, 1},
    {"BF16", SKULK_TYPE_BF16, false, 32}, {"Q8_0", SKULK_TYPE_Q8_0, false, 7},
    {"Q4_0", SKULK_TYPE_Q4_0, false, 2},  {"Q4_1", SKULK_TYPE_Q4_1, false, 3},
    {"Q5_0", SKULK_TYPE_Q5_0, false, 8},  {"Q5_1", SKULK_TYPE_Q5_1, false, 9},
    {"Q4_K", SKULK_TYPE_Q4_K, false, 14}, {"Q5_K", SKULK_TYPE_Q5_K, false, 16},
    {"Q6_K", SKULK_TYPE_Q6_K, false, 18}, {"Q4_K_M", SKULK_TYPE_Q4_K, true, 15},
    {"Q5_K_M", SKULK_TYPE_Q5_K, true, 17},
}};

// Layer index of "blk.N.xxx", or -1.
int layer_of(std::string_view name) {
    if (name.substr(0, 4) != "blk.") return -1;
    int n = 0;
    size_t i = 4;
    if (i >= name.size() || name[i] < '0' || name[i] > '9') return -1;
    while (i < name.size() && name[i] >= '0' && name[i] <= '9') n = n * 10 + (name[i++] - '0');
    return n;
}
bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}
} // namespace

std::optional<QuantPlan> quant_plan(std::string_view name) {
    for (const auto &p : kPlans)
        if (p.name == name) return p;
    return std::nullopt;
}

const char *supported_quant_names() { return "F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K, Q4_K_M, Q5_K_M"; }

bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

uint32_t tensor_type(const QuantPlan &plan, std::string_view name, int64_t ne0, uint32_t n_dims, int n_layers,
                     bool tied) {
    if (n_dims < 2) return SKULK_TYPE_F32; // norms and biases stay F32
    uint32_t t = plan.base_type;
    const bool is_output = name == "output.weight" || (tied && name == "token_embd.weight");
    if (plan.k_mix) {
        if (is_output) {
            t = SKULK_TYPE_Q6_K;
        } else if (ends_with(name, "attn_v.weight") || ends_with(name, "ffn_down.weight")) {
            if (use_more_bits(layer_of(name), n_layers)) t = SKULK_TYPE_Q6_K;
        }
    }
    // Rows that are not whole K-quant blocks fall back (llama.cpp's table).
    if (ne0 % 256 != 0) {
        if (t == SKULK_TYPE_Q4_K) t = SKULK_TYPE_Q5_0;
        else if (t == SKULK_TYPE_Q5_K) t = SKULK_TYPE_Q5_1;
        else if (t == SKULK_TYPE_Q6_K) t = SKULK_TYPE_Q8_0;
    }
    if (!quant::row_bytes(t, static_cast<uint64_t>(ne0))) t = SKULK_TYPE_F16; // not even 32-aligned
    return t;
}

} // namespace skulk::model
