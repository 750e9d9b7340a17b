// Round trips through the reference quantizers stay within each format's
// error bound, and the f16/bf16 conversions round to nearest even.
#include "quant/blocks.hpp"
#include "quant/fp16.hpp"
#include "quant/reference.hpp"
#include "quant/types.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace {
namespace q = skulk::quant;

std::vector<float> gaussian(size_t n, uint32_t seed, float scale) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.0f, scale);
    std::vector<float> v(n);
    for (auto &x : v) x = nd(rng);
    return v;
}

std::vector<float> round_trip(uint32_t type, const std::vector<float> &x) {
    const auto n = static_cast<int64_t>(x.size());
    std::vector<uint8_t> buf(*q::row_bytes(type, x.size()));
    q::quantize_row(type, x.data(), buf.data(), n);
    std::vector<float> y(x.size());
    q::dequantize_row(type, buf.data(), y.data(), n);
    return y;
}

// Legacy formats: per 32-block bound from the format's step size, plus the
// f16 rounding of the stored d (and m).
TEST(QuantReference, LegacyFormatsErrorWithinOneStep) {
    const std::vector<float> x = gaussian(32 * 512, 1, 0.7f);
    for (uint32_t type : {q::kQ4_0, q::kQ4_1, q::kQ5_0, q::kQ5_1, q::kQ8_0, q::kQ8_1}) {
        const auto y = round_trip(type, x);
        for (size_t b = 0; b < x.size() / 32; ++b) {
            float amax = 0, mn = x[b * 32], mx = x[b * 32];
            for (int j = 0; j < 32; ++j) {
                amax = std::max(amax, std::fabs(x[b * 32 + j]));
                mn = std::min(mn, x[b * 32 + j]);
                mx = std::max(mx, x[b * 32 + j]);
            }
            float bound = 0;
            const float f16err = 1.0f / 1024; // generous for an f16-rounded scale
            switch (type) {
            case q::kQ4_0: bound = amax / 8 + amax * f16err; break;          // clamp at +7 costs one step
            case q::kQ5_0: bound = amax / 16 + amax * f16err; break;
            case q::kQ8_0: case q::kQ8_1: bound = amax / 127 / 2 + amax * f16err; break;
            case q::kQ4_1: bound = (mx - mn) / 15 / 2 + (std::fabs(mn) + (mx - mn)) * f16err; break;
            case q::kQ5_1: bound = (mx - mn) / 31 / 2 + (std::fabs(mn) + (mx - mn)) * f16err; break;
            }
            for (int j = 0; j < 32; ++j)
                ASSERT_LE(std::fabs(y[b * 32 + j] - x[b * 32 + j]), bound)
                    << q::find_type(type)->name << " block " << b << " elem " << j;
        }
    }
}

// K-quants: relative RMS error over many super-blocks (the known figures for
// Gaussian data are ~0.07 Q4_K, ~0.035 Q5_K, ~0.017 Q6_K; Q8_K: a uniform
// rounding error of amax/127/sqrt(12) with amax ~3.3 sigma = 0.0075) and a per-element
// bound for Q8_K (half a step of amax/127).
TEST(QuantReference, KQuantsRmsErrorWithinKnownBounds) {
    const std::vector<float> x = gaussian(256 * 256, 2, 1.3f);
    double ss = 0;
    for (float v : x) ss += double(v) * v;
    const double rms = std::sqrt(ss / x.size());
    const std::vector<std::pair<uint32_t, double>> bounds = {
        {q::kQ4_K, 0.10}, {q::kQ5_K, 0.05}, {q::kQ6_K, 0.025}, {q::kQ8_K, 0.01}};
    for (auto [type, bound] : bounds) {
        const auto y = round_trip(type, x);
        double se = 0;
        for (size_t i = 0; i < x.size(); ++i) se += double(y[i] - x[i]) * (y[i] - x[i]);
        const double rel = std::sqrt(se / x.size()) / rms;
        EXPECT_LT(rel, bound) << q::find_type(type)->name;
        std::printf("%s relative rms error %.4f\n", std::string(q::find_type(type)->name).c_str(), rel);
        EXPECT_GT(rel, bound / 20) << q::find_type(type)->name << ": suspiciously exact";
    }
    const auto y = round_trip(q::kQ8_K, x);
    for (size_t b = 0; b < x.size() / 256; ++b) {
        float amax = 0;
        for (int j = 0; j < 256; ++j) amax = std::max(amax, std::fabs(x[b * 256 + j]));
        for (int j = 0; j < 256; ++j) ASSERT_LE(std::fabs(y[b * 256 + j] - x[b * 256 + j]), amax / 127 / 2 * 1.0001f);
    }
}

TEST(QuantReference, AllZeroBlocksStayZero) {
    const std::vector<float> x(512, 0.0f);
    for (uint32_t type : {q::kQ4_0, q::kQ4_1, q::kQ5_0, q::kQ5_1, q::kQ8_0, q::kQ8_1, q::kQ4_K, q::kQ5_K, q::kQ6_K,
                          q::kQ8_K, q::kF16, q::kBF16, q::kF32}) {
        const auto y = round_trip(type, x);
        for (float v : y) ASSERT_EQ(v, 0.0f) << q::find_type(type)->name;
    }
}

TEST(QuantReference, HalfAndBfloatRoundToNearestEven) {
    // Exhaustive over every f16: decode then encode is the identity (NaNs aside).
    for (uint32_t h = 0; h < 65536; ++h) {
        const float f = q::fp16_to_f32(static_cast<uint16_t>(h));
        if (std::isnan(f)) continue;
        ASSERT_EQ(q::f32_to_fp16(f), h) << std::hex << h;
        ASSERT_EQ(q::f32_to_bf16(q::bf16_to_f32(static_cast<uint16_t>(h))), h);
    }
    // Independent check of the value: sign * 2^(e-15) * (1 + m/1024).
    for (uint32_t h : {0x3C00u, 0xC000u, 0x7BFFu, 0x0001u, 0x0400u, 0x3555u}) {
        const int e = (h >> 10) & 31, m = h & 1023;
        const double v = (h & 0x8000 ? -1 : 1) * (e ? std::ldexp(1.0 + m / 1024.0, e - 15) : std::ldexp(m / 1024.0, -14));
        EXPECT_EQ(q::fp16_to_f32(static_cast<uint16_t>(h)), static_cast<float>(v)) << std::hex << h;
    }
    EXPECT_EQ(q::f32_to_fp16(1.0f + 1.0f / 2048), 0x3C00u);             // tie to even (down)
    EXPECT_EQ(q::f32_to_fp16(1.0f + 3.0f / 2048), 0x3C02u);             // tie to even (up)
    EXPECT_EQ(q::f32_to_fp16(65520.0f), 0x7C00u);                       // overflow to inf
    EXPECT_EQ(q::f32_to_bf16(1.0f + 1.0f / 256), 0x3F80u);              // tie to even
    EXPECT_EQ(q::f32_to_bf16(1.0f + 3.0f / 256), 0x3F82u);
}

TEST(QuantReference, BadArgumentsNameTheTypeAndSize) {
    std::vector<float> x(100);
    std::vector<uint8_t> y(1000);
    try {
        q::quantize_row(q::kQ4_K, x.data(), y.data(), 100);
        FAIL();
    } catch (const q::quant_error &e) {
        EXPECT_NE(std::string(e.what()).find("Q4_K"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("256"), std::string::npos) << e.what();
    }
    EXPECT_THROW(q::dequantize_row(q::kQ2_K, y.data(), x.data(), 256), q::quant_error);
    EXPECT_THROW(q::quantize_row(12345, x.data(), y.data(), 32), q::quant_error);
}

} // namespace
