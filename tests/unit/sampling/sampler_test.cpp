// Sampler and StopMatcher behaviour. Expected frequencies are computed from
// the softmax definitions in the test, not copied from the implementation.
#include "sampling/sampler.hpp"
#include "unit/heap_allocations.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

using namespace skulk::model;

namespace {
SamplingParams plain(float temp = 1.0f) {
    SamplingParams p;
    p.temperature = temp;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = 42;
    return p;
}
std::map<int32_t, double> frequencies(Sampler &s, const std::vector<float> &logits, int n) {
    std::map<int32_t, double> f;
    for (int i = 0; i < n; ++i) f[s.sample(logits.data())] += 1.0 / n;
    return f;
}
} // namespace

TEST(Sampler, GreedyPicksArgmax) {
    Sampler s(plain(0.0f), 5);
    std::vector<float> l{0.1f, 3.0f, -2.0f, 2.9f, 0.0f};
    EXPECT_EQ(s.sample(l.data()), 1);
    // top_k = 1 is greedy at any temperature.
    SamplingParams p = plain(5.0f);
    p.top_k = 1;
    Sampler k1(p, 5);
    for (int i = 0; i < 50; ++i) EXPECT_EQ(k1.sample(l.data()), 1);
}

// The vectorised argmax against a plain scan: every length across several
// 4- and 8-lane blocks, the maximum in the body and in the tail, ties, -inf, NaN.
TEST(Argmax, MatchesAPlainScanAtEveryLengthAndPosition) {
    auto scan = [](const std::vector<float> &v) {
        int32_t best = 0;
        for (size_t i = 1; i < v.size(); ++i)
            if (v[i] > v[best] || std::isnan(v[best])) best = static_cast<int32_t>(i);
        return best;
    };
    std::srand(7);
    for (size_t n = 1; n <= 70; ++n)
        for (size_t at = 0; at < n; ++at) {
            std::vector<float> v(n);
            for (float &x : v) x = static_cast<float>(std::rand() % 1000) / 100.0f - 5.0f;
            v[at] = 100.0f;
            ASSERT_EQ(argmax(v), static_cast<int32_t>(at)) << "n " << n;
            ASSERT_EQ(argmax(v), scan(v)) << "n " << n;
        }
    std::vector<float> ties(49152, 1.0f);
    ties[40000] = ties[30000] = 2.0f;
    EXPECT_EQ(argmax(ties), 30000);
    std::vector<float> low(33, -INFINITY);
    EXPECT_EQ(argmax(low), 0);
    low[32] = -1e30f;
    EXPECT_EQ(argmax(low), 32);
    std::vector<float> nan(40, 0.0f);
    nan[3] = NAN;
    nan[20] = 1.0f;
    EXPECT_EQ(argmax(nan), 20);
}

TEST(Sampler, DrawsFollowTheSoftmax) {
    std::vector<float> l{std::log(0.5f), std::log(0.3f), std::log(0.2f)};
    Sampler s(plain(1.0f), 3);
    auto f = frequencies(s, l, 40000);
    EXPECT_NEAR(f[0], 0.5, 0.015);
    EXPECT_NEAR(f[1], 0.3, 0.015);
    EXPECT_NEAR(f[2], 0.2, 0.015);
    // Temperature 2 flattens: p ~ sqrt(p0) normalised.
    Sampler t(plain(2.0f), 3);
    auto g = frequencies(t, l, 40000);
    double z = std::sqrt(0.5) + std::sqrt(0.3) + std::sqrt(0.2);
    EXPECT_NEAR(g[0], std::sqrt(0.5) / z, 0.015);
    EXPECT_NEAR(g[2], std::sqrt(0.2) / z, 0.015);
}

TEST(Sampler, TopPAndMinPCutTheTail) {
    std::vector<float> l{std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
    SamplingParams p = plain(1.0f);
    p.top_p = 0.7f; // 0.5 + 0.3 reaches 0.7: two survive, renormalised
    Sampler s(p, 4);
    auto f = frequencies(s, l, 40000);
    EXPECT_EQ(f.count(2) + f.count(3), 0u);
    EXPECT_NEAR(f[0], 0.5 / 0.8, 0.015);
    SamplingParams m = plain(1.0f);
    m.min_p = 0.25f; // keep p >= 0.125: tokens 0, 1, 2
    Sampler ms(m, 4);
    auto g = frequencies(ms, l, 40000);
    EXPECT_EQ(g.count(3), 0u);
    EXPECT_NEAR(g[2], 0.15 / 0.95, 0.015);
}

TEST(Sampler, TopPKeepsExactlyTheReferencePrefix) {
    // Reference: sort everything, accumulate the softmax until top_p.
    const size_t n = 3000;
    std::vector<float> l(n);
    Rng g(99);
    for (auto &x : l) x = static_cast<float>((g.uniform() - 0.5) * 12.0);
    std::vector<int32_t> order(n);
    for (size_t i = 0; i < n; ++i) order[i] = static_cast<int32_t>(i);
    std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return l[a] > l[b] || (l[a] == l[b] && a < b); });
    double sum = 0;
    for (float x : l) sum += std::exp(static_cast<double>(x - l[order[0]]));
    std::map<int32_t, double> keep;
    double cum = 0;
    for (int32_t id : order) {
        double p = std::exp(static_cast<double>(l[id] - l[order[0]])) / sum;
        keep[id] = p;
        cum += p;
        if (cum >= 0.5) break;
    }
    ASSERT_GT(keep.size(), 10u);
    SamplingParams p = plain(1.0f);
    p.top_p = 0.5f;
    Sampler s(p, n);
    auto f = frequencies(s, l, 30000);
    for (const auto &[id, freq] : f) EXPECT_TRUE(keep.count(id)) << "token " << id << " is outside the top-p set";
    for (const auto &[id, prob] : keep) {
        if (prob / cum > 0.02) {
            EXPECT_NEAR(f[id], prob / cum, 0.012) << id;
        }
    }
}

TEST(Sampler, SameSeedSameStreamOtherSeedDifferent) {
    std::vector<float> l(100);
    for (int i = 0; i < 100; ++i) l[i] = static_cast<float>(std::sin(i * 1.3));
    auto run = [&](uint64_t seed) {
        SamplingParams p = plain(1.0f);
        p.seed = seed;
        Sampler s(p, l.size());
        std::vector<int32_t> out;
        for (int i = 0; i < 64; ++i) out.push_back(s.sample(l.data()));
        return out;
    };
    auto a = run(7);
    // Another request sampling in between does not disturb this one.
    SamplingParams other = plain(1.0f);
    other.seed = 7;
    Sampler o(other, l.size());
    (void)o.sample(l.data());
    EXPECT_EQ(run(7), a);
    EXPECT_NE(run(8), a);
}

TEST(Sampler, PenaltiesAndBias) {
    std::vector<float> l{1.0f, 1.0f, 0.5f};
    SamplingParams p = plain(0.0f);
    p.repeat_penalty = 2.0f;
    Sampler s(p, 3);
    EXPECT_EQ(s.sample(l.data()), 0); // tie: lower id
    s.accept(0);
    EXPECT_EQ(s.sample(l.data()), 1); // 0 is now 0.5
    s.accept(1);
    EXPECT_EQ(s.sample(l.data()), 0); // both 0.5, 2 too: lowest id wins
    // The window forgets: repeat_last_n = 1.
    SamplingParams w = plain(0.0f);
    w.presence_penalty = 1.0f;
    w.repeat_last_n = 1;
    Sampler sw(w, 3);
    sw.accept(0);
    EXPECT_EQ(sw.sample(l.data()), 1);
    sw.accept(1);
    EXPECT_EQ(sw.sample(l.data()), 0);
    // Frequency penalty grows with the count.
    SamplingParams fq = plain(0.0f);
    fq.frequency_penalty = 0.3f;
    Sampler sf(fq, 3);
    sf.accept(0);
    EXPECT_EQ(sf.sample(l.data()), 1);
    sf.accept(1);
    sf.accept(1);
    EXPECT_EQ(sf.sample(l.data()), 0); // 0.7 vs 0.4
    // A -inf bias bans a token even at high temperature.
    SamplingParams b = plain(3.0f);
    b.logit_bias = {{0, -INFINITY}, {2, 10.0f}};
    Sampler sb(b, 3);
    for (int i = 0; i < 200; ++i) EXPECT_NE(sb.sample(l.data()), 0);
    SamplingParams bad;
    bad.logit_bias = {{5, 1.0f}};
    EXPECT_THROW(Sampler(bad, 3), std::invalid_argument);
    SamplingParams mt = plain();
    mt.max_tokens = 2;
    Sampler sm(mt, 3);
    EXPECT_FALSE(sm.exhausted(1));
    EXPECT_TRUE(sm.exhausted(2));
}

TEST(Sampler, NoAllocationPerToken) {
    std::vector<float> l(32000);
    for (size_t i = 0; i < l.size(); ++i) l[i] = static_cast<float>(std::cos(i * 0.01));
    SamplingParams p; // defaults: top-k 40, top-p, min-p, temperature
    p.repeat_penalty = 1.1f;
    p.presence_penalty = 0.2f;
    p.seed = 1;
    Sampler s(p, l.size());
    s.accept(s.sample(l.data())); // warm
    long before = skulk::testing::heap_allocations();
    for (int i = 0; i < 100; ++i) s.accept(s.sample(l.data()));
    EXPECT_EQ(skulk::testing::heap_allocations(), before);
    SamplingParams g = plain(0.0f);
    g.top_p = 0.9f;
    Sampler full(g, l.size());
    before = skulk::testing::heap_allocations();
    for (int i = 0; i < 10; ++i) full.accept(full.sample(l.data()));
    EXPECT_EQ(skulk::testing::heap_allocations(), before);
}

TEST(StopMatcher, FindsStopsAcrossTokens) {
    StopMatcher m({"</end>", "STOP"});
    std::string out;
    m.push("Hello </", out);
    EXPECT_EQ(out, "Hello "); // "</" could start "</end>"
    m.push("en", out);
    EXPECT_EQ(out, "Hello ");
    m.push("d> tail", out);
    EXPECT_TRUE(m.stopped());
    EXPECT_EQ(m.matched(), "</end>");
    EXPECT_EQ(out, "Hello ");
    m.push("more", out);
    EXPECT_EQ(out, "Hello ");
    EXPECT_EQ(m.flush(), "");
}

TEST(StopMatcher, ReleasesFalseStarts) {
    StopMatcher m({"STOP"});
    EXPECT_EQ(m.push("a ST"), "a ");
    EXPECT_EQ(m.push("OP"), "");
    EXPECT_TRUE(m.stopped());
    StopMatcher n({"STOP"});
    EXPECT_EQ(n.push("a ST"), "a ");
    EXPECT_EQ(n.push("ART"), "START");
    EXPECT_EQ(n.push("S"), "");
    EXPECT_EQ(n.flush(), "S");
    EXPECT_FALSE(n.stopped());
    // The earliest of two stops wins; text before it is kept.
    StopMatcher e({"bb", "a"});
    EXPECT_EQ(e.push("xxbbya"), "xx");
    EXPECT_EQ(e.matched(), "bb");
    StopMatcher none({});
    EXPECT_EQ(none.push("abc"), "abc");
}
