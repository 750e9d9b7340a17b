// The vector helpers against plain double-precision loops, at lengths that
// exercise the vector bodies and the tails.
#include "quant/fp16.hpp"
#include "vec.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace {
namespace cpu = skulk::cpu;
namespace q = skulk::quant;

TEST(KernelsVec, MatchDoublePrecisionLoops) {
    std::mt19937 rng(5);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (int64_t n : {1, 7, 16, 31, 64, 100, 257}) {
        std::vector<float> a(n), b(n), y(n), y0;
        std::vector<uint16_t> h(n), h2(n);
        for (int64_t i = 0; i < n; ++i) {
            a[i] = nd(rng);
            b[i] = nd(rng);
            y[i] = nd(rng);
            h[i] = q::f32_to_fp16(a[i]);
        }
        double d = 0, dh = 0, mag = 0;
        for (int64_t i = 0; i < n; ++i) {
            d += double(a[i]) * b[i];
            dh += double(q::fp16_to_f32(h[i])) * b[i];
            mag += std::fabs(double(a[i]) * b[i]);
        }
        EXPECT_NEAR(cpu::dot_f32(a.data(), b.data(), n), d, 1e-5 * mag + 1e-6) << n;
        EXPECT_NEAR(cpu::dot_f16(h.data(), b.data(), n), dh, 1e-5 * mag + 1e-6) << n;
        y0 = y;
        cpu::axpy_f32(0.5f, a.data(), y.data(), n);
        for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(y[i], y0[i] + 0.5 * a[i], 1e-5) << n;
        y0 = y;
        cpu::axpy_f16(-2.0f, h.data(), y.data(), n);
        for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(y[i], y0[i] - 2.0 * q::fp16_to_f32(h[i]), 1e-5) << n;
        y0 = y;
        cpu::scale_f32(3.0f, y.data(), n);
        for (int64_t i = 0; i < n; ++i) EXPECT_FLOAT_EQ(y[i], 3.0f * y0[i]) << n;
        cpu::f32_to_f16_row(a.data(), h2.data(), n);
        for (int64_t i = 0; i < n; ++i) EXPECT_EQ(h2[i], h[i]) << n; // same rounding as the reference
        std::vector<float> back(n);
        cpu::f16_to_f32_row(h.data(), back.data(), n);
        for (int64_t i = 0; i < n; ++i) EXPECT_EQ(back[i], q::fp16_to_f32(h[i])) << n;
    }
}

TEST(KernelsVec, SwigluMatchesDoubleFormula) {
    std::mt19937 rng(9);
    std::normal_distribution<float> nd(0.0f, 4.0f);
    for (int64_t n : {1, 15, 16, 33, 1536}) {
        std::vector<float> g(n), u(n), out;
        for (int64_t i = 0; i < n; ++i) {
            g[i] = nd(rng);
            u[i] = nd(rng);
        }
        g[0] = -100.0f; // exp(100) overflows to inf: silu -> -0
        out = g;
        cpu::swiglu_f32(out.data(), u.data(), n);
        for (int64_t i = 0; i < n; ++i) {
            const double want = double(g[i]) / (1.0 + std::exp(-double(g[i]))) * u[i];
            EXPECT_NEAR(out[i], want, 1e-6 * (1.0 + std::fabs(want))) << n << " " << i << " g " << g[i];
        }
    }
}

} // namespace
