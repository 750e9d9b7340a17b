// The kernels against each other and against exact arithmetic:
//  1. the scalar reference matmul equals dequantize(W) . dequantize(Q8(x)) in
//     double precision (the same quantized activations, so only float
//     rounding separates them), and is close to the exact f32 product within
//     the activation-quantization error;
//  2. every SIMD level this CPU has equals the scalar reference (tight
//     tolerance) for every type, token count, odd row count and row range.
#include "dispatch.hpp"
#include "matmul.hpp"
#include "quant/blocks.hpp"
#include "quant/reference.hpp"
#include "quant/types.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {
namespace q = skulk::quant;
namespace cpu = skulk::cpu;
using cpu::Isa;

const std::vector<uint32_t> kTypes = {q::kF32,  q::kF16,  q::kBF16, q::kQ4_0, q::kQ4_1, q::kQ5_0,
                                      q::kQ5_1, q::kQ8_0, q::kQ4_K, q::kQ5_K, q::kQ6_K};

std::string name_of(uint32_t t) { return std::string(q::find_type(t)->name); }

struct Matrix {
    uint32_t type;
    int64_t rows, cols;
    std::vector<uint8_t> bytes;
    std::vector<float> deq; // exact decoded weights
};

Matrix make_matrix(uint32_t type, int64_t rows, int64_t cols, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    Matrix m{type, rows, cols, {}, {}};
    const size_t rb = *q::row_bytes(type, static_cast<uint64_t>(cols));
    m.bytes.resize(rb * static_cast<size_t>(rows));
    m.deq.resize(static_cast<size_t>(rows * cols));
    std::vector<float> src(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; ++r) {
        // Per-row scale spread so d/m fields vary; an occasional outlier.
        const float scale = 0.02f * (1.0f + static_cast<float>(r % 7));
        for (auto &v : src) v = nd(rng) * scale;
        if (r % 5 == 0) src[static_cast<size_t>(r) % src.size()] *= 6.0f;
        q::quantize_row(type, src.data(), m.bytes.data() + rb * static_cast<size_t>(r), cols);
        q::dequantize_row(type, m.bytes.data() + rb * static_cast<size_t>(r), m.deq.data() + r * cols, cols);
    }
    return m;
}

std::vector<float> make_input(int n_tokens, int64_t cols, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> x(static_cast<size_t>(n_tokens * cols));
    for (auto &v : x) v = nd(rng);
    return x;
}

struct Buffer { // 64-byte aligned activation buffer
    explicit Buffer(size_t n) : p(static_cast<uint8_t *>(std::aligned_alloc(64, (n + 63) / 64 * 64 + 64))) {}
    ~Buffer() { std::free(p); }
    uint8_t *p;
};

// The activations as the kernels see them, decoded to f32: what a scalar
// dot must reproduce (llama.cpp's arithmetic on the quantized input).
std::vector<float> decoded_activations(uint32_t type, const std::vector<float> &x, int n_tokens, int64_t cols,
                                       const void *qx) {
    const auto l = cpu::detail::act_layout(type, cols);
    std::vector<float> out(x.size());
    for (int t = 0; t < n_tokens; ++t) {
        float *o = out.data() + t * cols;
        switch (l.kind) {
        case cpu::detail::ActKind::f32:
            for (int64_t k = 0; k < cols; ++k) o[k] = cpu::detail::act_f32(l, qx, t)[k];
            break;
        case cpu::detail::ActKind::q8_32: {
            auto a = cpu::detail::act_q8(l, qx, t);
            for (int64_t k = 0; k < cols; ++k) o[k] = a.d[k / 32] * a.qs[k];
            for (int64_t b = 0; b < l.nb; ++b) { // the stored sums are the sums of qs
                int s = 0;
                for (int j = 0; j < 32; ++j) s += a.qs[b * 32 + j];
                EXPECT_EQ(s, a.sum[b]);
            }
            break;
        }
        case cpu::detail::ActKind::q8_k: {
            auto a = cpu::detail::act_q8k(l, qx, t);
            for (int64_t k = 0; k < cols; ++k) o[k] = a.d[k / 256] * a.qs[k];
            for (int64_t j = 0; j < l.nb * 16; ++j) {
                int s = 0;
                for (int i = 0; i < 16; ++i) s += a.qs[j * 16 + i];
                EXPECT_EQ(s, a.bsums[j]);
            }
            break;
        }
        }
    }
    return out;
}

TEST(KernelsScalar, MatchesDequantizedDoublePrecisionDot) {
    for (uint32_t type : kTypes) {
        for (int64_t cols : {256, 512}) {
            const int64_t rows = 13;
            const int n_tokens = 3;
            Matrix m = make_matrix(type, rows, cols, 11 + type);
            auto x = make_input(n_tokens, cols, 99);
            Buffer qx(cpu::quantized_activation_bytes(type, cols, n_tokens));
            cpu::quantize_activations(type, x.data(), cols, n_tokens, qx.p);
            auto xa = decoded_activations(type, x, n_tokens, cols, qx.p);
            auto w = cpu::detail::pack_matrix_for(Isa::scalar, type, m.bytes.data(), rows, cols);
            std::vector<float> y(static_cast<size_t>(n_tokens * rows), NAN);
            cpu::matmul(*w, qx.p, n_tokens, y.data(), rows, 0, rows);
            for (int t = 0; t < n_tokens; ++t)
                for (int64_t r = 0; r < rows; ++r) {
                    double exact_q = 0, exact = 0, mag = 0;
                    for (int64_t k = 0; k < cols; ++k) {
                        const double wv = m.deq[r * cols + k];
                        exact_q += wv * xa[t * cols + k];
                        exact += wv * x[t * cols + k];
                        mag += std::fabs(wv * x[t * cols + k]);
                    }
                    const double got = y[t * rows + r];
                    // Same inputs: only f32 summation rounding separates them.
                    EXPECT_NEAR(got, exact_q, 1e-5 * mag + 1e-6) << name_of(type) << " r=" << r << " t=" << t;
                    // Against unquantized activations: Q8 rounding is at most
                    // half a step (amax/254) per element: bound by mag/100.
                    EXPECT_NEAR(got, exact, mag / 100 + 1e-6) << name_of(type) << " r=" << r << " t=" << t;
                }
        }
    }
}

// Every ISA level this machine has against the scalar reference.
class KernelsIsa : public ::testing::TestWithParam<Isa> {};

TEST_P(KernelsIsa, MatchesScalarReference) {
    const Isa isa = GetParam();
    if (!cpu::detail::isa_available(isa)) GTEST_SKIP() << "CPU lacks " << cpu::detail::isa_label(isa);
    for (uint32_t type : kTypes) {
        const int64_t cols = 512;
        for (int64_t rows : {1, 37, 50}) {
            Matrix m = make_matrix(type, rows, cols, 7 * static_cast<uint32_t>(rows) + type);
            auto ref = cpu::detail::pack_matrix_for(Isa::scalar, type, m.bytes.data(), rows, cols);
            auto w = cpu::detail::pack_matrix_for(isa, type, m.bytes.data(), rows, cols);
            ASSERT_EQ(cpu::rows(*w), rows);
            ASSERT_EQ(cpu::cols(*w), cols);
            ASSERT_EQ(cpu::type(*w), type);
            const bool repacked = isa != Isa::scalar && type != q::kF32 && type != q::kF16 && type != q::kBF16;
            ASSERT_EQ(cpu::row_align(*w), repacked ? 16u : 1u) << name_of(type);
            for (int n_tokens : {1, 3, 17, 64, 130}) { // 130: crosses the 64-token chunks
                auto x = make_input(n_tokens, cols, 1234 + static_cast<uint32_t>(n_tokens));
                Buffer qx(cpu::quantized_activation_bytes(type, cols, n_tokens));
                cpu::quantize_activations(type, x.data(), cols, n_tokens, qx.p);
                const int64_t ldy = rows + 3; // padded output rows stay untouched
                std::vector<float> want(static_cast<size_t>(n_tokens * ldy), -7.0f);
                cpu::matmul(*ref, qx.p, n_tokens, want.data(), ldy, 0, rows);
                // Whole range, an odd interior range, and a split in two.
                const int64_t a = rows / 3, b = rows - rows / 4;
                const std::vector<std::pair<int64_t, int64_t>> ranges = {{0, rows}, {a, b}, {0, a}, {a, rows}};
                for (auto [r0, r1] : ranges) {
                    std::vector<float> got(static_cast<size_t>(n_tokens * ldy), -7.0f);
                    cpu::matmul(*w, qx.p, n_tokens, got.data(), ldy, r0, r1);
                    for (int t = 0; t < n_tokens; ++t)
                        for (int64_t r = 0; r < ldy; ++r) {
                            const float g = got[t * ldy + r];
                            if (r < r0 || r >= r1) {
                                ASSERT_EQ(g, -7.0f) << "wrote outside [r0,r1): " << name_of(type) << " r=" << r;
                                continue;
                            }
                            const float e = want[t * ldy + r];
                            ASSERT_NEAR(g, e, 2e-5f * (1.0f + std::fabs(e)))
                                << name_of(type) << " " << cpu::detail::isa_label(isa) << " rows=" << rows
                                << " n_tokens=" << n_tokens << " r=" << r << " t=" << t << " range=[" << r0 << ","
                                << r1 << ")";
                        }
                }
            }
        }
    }
}

INSTANTIATE_TEST_SUITE_P(AllLevels, KernelsIsa, ::testing::Values(Isa::scalar, Isa::avx2, Isa::avx512vnni),
                         [](const auto &info) { return std::string(cpu::detail::isa_label(info.param)); });

// Activation quantization gives the same bytes on every level.
TEST(KernelsActivations, EveryLevelQuantizesIdentically) {
    for (uint32_t type : {q::kQ8_0, q::kQ4_1, q::kQ4_K}) {
        const int64_t cols = 1024;
        const int n_tokens = 9;
        auto x = make_input(n_tokens, cols, 77);
        // Exact ties for roundf (x*id = k + 0.5), zero blocks and a signed-max tie.
        // Block 0: amax 127 makes d = 1, so x*id = x = k - 16.5 are exact ties.
        x[0] = 127.0f;
        for (int64_t k = 1; k < 32; ++k) x[k] = static_cast<float>(k) - 16.5f;
        for (int64_t k = 256; k < 512; ++k) x[k] = 0.0f;
        x[cols + 3] = -5.0f;
        x[cols + 9] = 5.0f;
        const size_t bytes = cpu::quantized_activation_bytes(type, cols, n_tokens);
        Buffer want(bytes), got(bytes);
        std::memset(want.p, 0, bytes);
        std::memset(got.p, 0, bytes);
        cpu::detail::quantize_activations_for(Isa::scalar, type, x.data(), cols, n_tokens, want.p);
        for (Isa isa : {Isa::avx2, Isa::avx512vnni}) {
            if (!cpu::detail::isa_available(isa)) continue;
            cpu::detail::quantize_activations_for(isa, type, x.data(), cols, n_tokens, got.p);
            EXPECT_EQ(std::memcmp(want.p, got.p, bytes), 0) << name_of(type) << " " << cpu::detail::isa_label(isa);
        }
    }
}

TEST(KernelsApi, RejectsBadInput) {
    std::vector<uint8_t> data(1024);
    EXPECT_THROW(cpu::pack_matrix(q::kQ8_0, data.data(), 2, 33), std::invalid_argument);   // not a block multiple
    EXPECT_THROW(cpu::pack_matrix(q::kQ2_K, data.data(), 1, 256), std::invalid_argument);  // no kernel
    EXPECT_THROW(cpu::pack_matrix(q::kQ8_0, data.data(), 0, 32), std::invalid_argument);   // no rows
    auto w = cpu::pack_matrix(q::kQ8_0, data.data(), 2, 32);
    float y[4];
    EXPECT_THROW(cpu::matmul(*w, data.data(), 1, y, 2, 0, 3), std::invalid_argument);
    try {
        cpu::pack_matrix(q::kQ4_K, data.data(), 1, 96);
        FAIL();
    } catch (const std::invalid_argument &e) {
        EXPECT_NE(std::string(e.what()).find("Q4_K"), std::string::npos) << e.what();
    }
}

TEST(KernelsApi, IsaNameIsOneOfTheLevels) {
    const std::string n = cpu::isa_name();
    EXPECT_TRUE(n == "avx512vnni" || n == "avx2" || n == "scalar") << n;
    EXPECT_LE(static_cast<int>(cpu::detail::active_isa()), static_cast<int>(cpu::detail::detected_isa()));
}

} // namespace
