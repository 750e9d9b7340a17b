// Conformance of the cpu_blas engine against llama.cpp's reference outputs
// (shared/conformance, rules in its README): every architecture x tensor type
// there. Prompt token ids come from the reference JSON, so the engine is
// tested independently of the tokenizer.
#include "unit/engine/conformance.hpp"
#include "unit/engine/engine_fixture.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace skulk::test {
namespace {

engine::SessionOptions conformance_options(skulk_kv_type kv) {
    engine::SessionOptions o;
    o.n_threads = 2;
    o.n_ctx = 768;        // longest prompt (650 tokens) + 32, as the references' n_ctx
    o.n_batch_max = 768;  // the whole prompt in one batch, as the reference did
    o.kv_type = kv;       // the references used an F32 cache
    return o;
}

FileMeasure run(const std::string &stem, skulk_kv_type kv = SKULK_KV_F32, int n_steps = 32) {
    const Reference ref = load_reference(stem);
    auto s = open_session(model_path(ref), conformance_options(kv));
    FileMeasure m = measure(*s, ref, n_steps);
    std::printf("[conformance] %s%s\n", m.summary().c_str(), kv == SKULK_KV_F16 ? " [F16 KV]" : "");
    return m;
}

std::string test_name(const testing::TestParamInfo<std::string> &info) {
    std::string n = info.param;
    for (char &c : n)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    return n;
}

// Rule 2: F32 weights, F32 arithmetic.
class F32Reference : public testing::TestWithParam<std::string> {};
TEST_P(F32Reference, MatchesLlamaCppWithinF32Tolerance) {
    const FileMeasure m = run(GetParam());
    const double err = std::max(m.worst_max_diff(), 1e-5);
    for (const auto &p : m.prompts) {
        SCOPED_TRACE("prompt " + std::to_string(p.index));
        if (p.has_bin) {
            EXPECT_LE(p.max_diff, 1e-3);
            EXPECT_GE(p.cosine, 0.999999);
        }
        EXPECT_LE(p.max_top20_diff, 1e-3);
        EXPECT_LE(p.max_stat_diff, 1e-3);
        // greedy: all 32 equal, or every divergence sits where the top-2 are
        // closer than twice the measured error
        if (p.greedy_equal < m.n_steps) EXPECT_LT(p.max_mismatch_gap, 2 * err) << "greedy diverged at step " << p.greedy_equal;
    }
}
INSTANTIATE_TEST_SUITE_P(Conformance, F32Reference,
                         testing::Values("stories260K", "TinyStories-656K-f32", "llama-synth-v512-F32",
                                         "qwen2-synth-w384-F32"),
                         test_name);

// Rule 2, F16 KV cache: max|diff| <= 3e-2, cosine >= 0.99999, greedy >= 30.
TEST(ConformanceF16Cache, Stories260KWithinF16CacheTolerance) {
    const FileMeasure m = run("stories260K", SKULK_KV_F16);
    for (const auto &p : m.prompts) {
        SCOPED_TRACE("prompt " + std::to_string(p.index));
        EXPECT_LE(p.max_diff, 3e-2);
        EXPECT_GE(p.cosine, 0.99999);
        EXPECT_GE(p.greedy_equal, 30);
    }
}

// Rule 3: F16 / BF16 files against their native references.
struct HalfCase {
    std::string stem;
    double max_diff, min_cosine, greedy_fraction;
};
class HalfReference : public testing::TestWithParam<HalfCase> {};
TEST_P(HalfReference, MatchesLlamaCppWithinHalfTolerance) {
    const HalfCase c = GetParam();
    const FileMeasure m = run(c.stem);
    for (const auto &p : m.prompts) {
        SCOPED_TRACE("prompt " + std::to_string(p.index));
        if (p.has_bin) {
            EXPECT_LE(p.max_diff, c.max_diff);
            EXPECT_GE(p.cosine, c.min_cosine);
        }
        EXPECT_TRUE(p.top1_step0);
        if (p.greedy_equal < m.n_steps) EXPECT_LT(p.max_mismatch_gap, 2 * c.max_diff) << "greedy diverged at step " << p.greedy_equal;
    }
    EXPECT_GE(m.greedy_all_equal(), std::ceil(c.greedy_fraction * m.prompts.size()));
}
INSTANTIATE_TEST_SUITE_P(Conformance, HalfReference,
                         testing::Values(HalfCase{"llama-synth-v512-F16", 2e-2, 0.99999, 0.9},
                                         HalfCase{"llama-synth-v512-BF16", 6e-2, 0.9999, 2.0 / 3},
                                         HalfCase{"qwen2-synth-w384-F16", 2e-2, 0.99999, 0.9}),
                         [](const testing::TestParamInfo<HalfCase> &i) {
                             return test_name(testing::TestParamInfo<std::string>(i.param.stem, i.index));
                         });

// Rule 4: quantized files (Q8 activations like llama.cpp) against the native reference.
class QuantReference : public testing::TestWithParam<std::string> {};
TEST_P(QuantReference, MatchesLlamaCppWithinQuantizedTolerance) {
    const FileMeasure m = run(GetParam(), SKULK_KV_F32, 8); // the rule looks at the 8 logged steps only
    for (const auto &p : m.prompts) {
        SCOPED_TRACE("prompt " + std::to_string(p.index));
        if (p.has_bin) {
            EXPECT_LE(p.max_diff, 0.4 * p.sigma);
            EXPECT_GE(p.cosine, 0.997);
            EXPECT_LE(p.kl, 5e-3);
        }
    }
    EXPECT_GE(m.prompts_top1_step0(), std::ceil(0.8 * m.prompts.size()));
    EXPECT_GE(m.top1_position_rate(), 0.85);
    EXPECT_GE(m.worst_top20_overlap(), 14);
}
INSTANTIATE_TEST_SUITE_P(Conformance, QuantReference,
                         testing::Values("TinyStories-656K-Q8_0", "llama-synth-v512-Q8_0", "llama-synth-v512-Q4_0",
                                         "llama-synth-v512-Q4_1", "llama-synth-v512-Q5_0", "llama-synth-v512-Q5_1",
                                         "llama-synth-v512-Q4_K_M", "llama-synth-v512-Q5_K_M", "llama-synth-v512-Q6_K",
                                         "llama-synth-small-Q4_K_M", "qwen2-synth-small-Q8_0", "qwen2-synth-small-Q4_K_M",
                                         "qwen2-synth-w384-Q4_K_M", "qwen2-synth-w384-Q5_K_M"),
                         test_name);

} // namespace
} // namespace skulk::test
