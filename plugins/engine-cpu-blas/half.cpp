#include "half.hpp"

#include <cstring>

namespace skulk::cpu {

void f32_to_bf16_row(const float *x, uint16_t *y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        uint32_t u;
        std::memcpy(&u, &x[i], 4);
        if ((u & 0x7fffffffu) > 0x7f800000u) { // NaN stays NaN
            y[i] = static_cast<uint16_t>((u >> 16) | 64);
            continue;
        }
        y[i] = static_cast<uint16_t>((u + (0x7fffu + ((u >> 16) & 1))) >> 16);
    }
}

void bf16_to_f32_row(const uint16_t *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        const uint32_t u = static_cast<uint32_t>(x[i]) << 16;
        std::memcpy(&y[i], &u, 4);
    }
}

} // namespace skulk::cpu
