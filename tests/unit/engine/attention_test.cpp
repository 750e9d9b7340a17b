// The engine's attention kernels against a double-precision softmax(q.k) v
// over the same cache contents: the AVX-512 body (when this CPU has it) and
// the portable body, whole ranges and key ranges split in chunks and merged
// (the path a single decoding token takes with several threads), with absent
// slots, every KV type and head dims that hit the vector tails.
#include "attention.hpp"
#include "kernels/dispatch.hpp"
#include "kv_cache.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

namespace {
using namespace skulk::cpu;

struct Case {
    int n_head, n_head_kv, dk;
    KvType type;
};

// softmax(scale q.k) v in double, from the cache's own (rounded) values.
std::vector<double> reference(const KvCache &kv, const AttentionShape &s, uint32_t seq, int kvh, int n_keys,
                              const float *q) {
    const int n_rep = s.n_rep(), dk = s.head_dim_k, dv = s.head_dim_v;
    std::vector<float> k(dk * s.n_head_kv), v(dv * s.n_head_kv);
    std::vector<double> out(static_cast<size_t>(n_rep) * dv, 0.0);
    for (int r = 0; r < n_rep; ++r) {
        std::vector<double> sc(n_keys, -INFINITY);
        double mx = -INFINITY;
        for (int j = 0; j < n_keys; ++j) {
            if (!kv.present(seq, j)) continue;
            kv.k_to_f32(0, seq, j, 1, k.data());
            double d = 0;
            for (int i = 0; i < dk; ++i) d += double(q[r * dk + i]) * k[kvh * dk + i];
            sc[j] = d * s.scale;
            mx = std::max(mx, sc[j]);
        }
        double sum = 0;
        for (int j = 0; j < n_keys; ++j) sum += sc[j] == -INFINITY ? 0.0 : std::exp(sc[j] - mx);
        for (int j = 0; j < n_keys; ++j) {
            if (sc[j] == -INFINITY) continue;
            kv.v_to_f32(0, seq, j, 1, v.data());
            const double p = std::exp(sc[j] - mx) / sum;
            for (int i = 0; i < dv; ++i) out[r * dv + i] += p * v[kvh * dv + i];
        }
    }
    return out;
}

using AttendFn = void (*)(const KvCache &, int, const AttentionShape &, uint32_t, int, int, int, const float *,
                          float *, float *, float *);

void attend_vector(const KvCache &kv, int layer, const AttentionShape &s, uint32_t seq, int kvh, int j0, int j1,
                   const float *q, float *out, float *ms, float *scratch) {
    ASSERT_TRUE(detail::attend_avx512(kv, layer, s, seq, kvh, j0, j1, q, out, ms, scratch));
}

void check(AttendFn fn, const Case &c, const std::string &label) {
    const int n_ctx = 300, n_seq = 2;
    const AttentionShape s{c.n_head, c.n_head_kv, c.dk, c.dk, 1.0f / std::sqrt(float(c.dk))};
    const int n_rep = s.n_rep();
    KvCache kv(1, n_seq, n_ctx, c.n_head_kv, c.dk, c.dk, c.type);
    std::mt19937 rng(c.dk * 131 + c.n_head);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> k(c.dk * c.n_head_kv), v(c.dk * c.n_head_kv);
    const uint32_t seq = 1;
    for (int p = 0; p < n_ctx; ++p) {
        for (auto &x : k) x = 2.0f * nd(rng);
        for (auto &x : v) x = nd(rng);
        kv.mark(seq, p);
        kv.store(0, seq, p, k.data(), v.data());
        kv.mark(0, p); // another sequence's slots, never read for seq 1
        for (auto &x : k) x = 1e4f;
        kv.store(0, 0, p, k.data(), k.data());
    }
    kv.drop(seq, 40, 45);   // absent slots inside the range (seq_drop)
    kv.drop(seq, 100, 117); // a whole 16-key block and more
    std::vector<float> q(c.dk * n_rep), scratch(attention_scratch_floats(s, n_ctx) + 64);
    for (auto &x : q) x = nd(rng);
    for (int n_keys : {1, 15, 17, 42, 120, 300}) {
        for (int kvh = 0; kvh < c.n_head_kv; ++kvh) {
            const std::vector<double> want = reference(kv, s, seq, kvh, n_keys, q.data());
            std::vector<float> got(want.size(), NAN);
            fn(kv, 0, s, seq, kvh, 0, n_keys, q.data(), got.data(), nullptr, scratch.data() + 1); // unaligned on purpose
            for (int split : {2, 3, 7}) {
                std::vector<float> parts(split * want.size(), NAN), ms(split * 2 * n_rep), merged(want.size(), NAN);
                const int len = (n_keys + split - 1) / split;
                for (int p = 0; p < split; ++p) {
                    const int j0 = std::min(n_keys, p * len), j1 = std::min(n_keys, j0 + len);
                    fn(kv, 0, s, seq, kvh, j0, j1, q.data(), &parts[p * want.size()], &ms[p * 2 * n_rep], scratch.data());
                }
                attention_merge(s, split, parts.data(), ms.data(), merged.data());
                for (size_t i = 0; i < want.size(); ++i)
                    ASSERT_NEAR(merged[i], want[i], 2e-5 * (1 + std::fabs(want[i])))
                        << label << " split " << split << " n_keys " << n_keys << " kvh " << kvh << " i " << i;
            }
            for (size_t i = 0; i < want.size(); ++i)
                ASSERT_NEAR(got[i], want[i], 2e-5 * (1 + std::fabs(want[i])))
                    << label << " n_keys " << n_keys << " kvh " << kvh << " i " << i;
        }
    }
}

const Case kCases[] = {
    {8, 4, 8, KvType::f32},    {9, 3, 64, KvType::f16},   {14, 2, 64, KvType::f16}, {14, 2, 64, KvType::bf16},
    {4, 4, 80, KvType::f32},   {32, 4, 128, KvType::f16}, {6, 1, 24, KvType::f16},  {16, 2, 64, KvType::f32},
};

std::string name(const Case &c) {
    const char *t = c.type == KvType::f16 ? "f16" : c.type == KvType::bf16 ? "bf16" : "f32";
    return std::to_string(c.n_head) + "/" + std::to_string(c.n_head_kv) + " heads, dim " + std::to_string(c.dk) + ", " + t;
}

TEST(EngineAttention, PortableMatchesDoubleReference) {
    for (const Case &c : kCases) check(detail::attend_portable, c, "portable " + name(c));
}

TEST(EngineAttention, Avx512MatchesDoubleReference) {
    if (detail::detected_isa() != Isa::avx512vnni) GTEST_SKIP() << "no AVX-512 VNNI on this CPU";
    for (const Case &c : kCases) check(attend_vector, c, "avx512 " + name(c));
}

TEST(EngineAttention, Avx512DeclinesHeadDimsOver128) {
    if (detail::detected_isa() != Isa::avx512vnni) GTEST_SKIP() << "no AVX-512 VNNI on this CPU";
    const AttentionShape s{2, 1, 256, 256, 0.0625f};
    KvCache kv(1, 1, 4, 1, 256, 256, KvType::f16);
    std::vector<float> q(512), out(512), scratch(attention_scratch_floats(s, 4));
    EXPECT_FALSE(detail::attend_avx512(kv, 0, s, 0, 0, 0, 1, q.data(), out.data(), nullptr, scratch.data()));
}

} // namespace
