// Architectures and RoPE variants that llama.cpp's references do not cover
// (qwen3's q/k norms; linear, YaRN and Llama-3 frequency scaling), checked
// against a plain double-precision forward pass written here from the
// published formulas (HF transformers' rotary embeddings), over small F32
// synthetic models.
#include "unit/engine/engine_fixture.hpp"
#include "unit/engine/reference.hpp"

#include "engine/lend.hpp"
#include "gguf/gguf.hpp"
#include "gguf/hparams.hpp"
#include "gguf/synth.hpp"

#include <skulk/plugin.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <unistd.h>

namespace skulk::test {
namespace {

using Vec = std::vector<double>;

struct Ref {
    const model::GgufFile &f;
    const model::ModelParams &p;
    Vec vec(const std::string &name) const {
        const auto *t = f.tensor(name);
        if (!t) return {};
        const float *d = static_cast<const float *>(t->data);
        return Vec(d, d + t->n_elements());
    }
    // y = W x, W stored as rows of ne[0] floats
    Vec mat(const std::string &name, const Vec &x) const {
        const auto *t = f.tensor(name);
        const float *d = static_cast<const float *>(t->data);
        Vec y(t->ne[1]);
        for (int64_t r = 0; r < t->ne[1]; ++r) {
            double s = 0;
            for (int64_t c = 0; c < t->ne[0]; ++c) s += d[r * t->ne[0] + c] * x[c];
            y[r] = s;
        }
        return y;
    }
    static Vec rms(const Vec &x, const Vec &w, double eps, size_t off = 0, size_t n = 0) {
        if (!n) n = x.size();
        double ss = 0;
        for (size_t i = 0; i < n; ++i) ss += x[off + i] * x[off + i];
        const double sc = 1.0 / std::sqrt(ss / n + eps);
        Vec y(n);
        for (size_t i = 0; i < n; ++i) y[i] = x[off + i] * sc * w[i];
        return y;
    }

    // Inverse frequency and magnitude of each rotated pair (HF formulas).
    void rope_tables(Vec &inv_freq, Vec &interp_weight, double &mscale) const {
        const int n = static_cast<int>(p.n_rot);
        inv_freq.assign(n / 2, 0);
        interp_weight.assign(n / 2, 0);
        mscale = 1.0;
        const double base = p.rope_freq_base, factor = p.rope_scaling_factor;
        for (int i = 0; i < n / 2; ++i) inv_freq[i] = std::pow(base, -2.0 * i / n);
        if (p.rope_scaling == model::RopeScaling::linear) {
            for (auto &f : inv_freq) f /= factor;
        } else if (p.rope_scaling == model::RopeScaling::llama3) {
            const double old = p.rope_scaling_orig_ctx, lo = p.rope_llama3_low_freq_factor, hi = p.rope_llama3_high_freq_factor;
            for (auto &f : inv_freq) {
                const double wavelen = 2 * std::numbers::pi / f;
                if (wavelen > old / lo) {
                    f /= factor;
                } else if (wavelen >= old / hi) {
                    const double smooth = (old / wavelen - lo) / (hi - lo);
                    f = (1 - smooth) * f / factor + smooth * f;
                }
            }
        } else if (p.rope_scaling == model::RopeScaling::yarn) {
            auto corr = [&](double rot) { return n * std::log(p.rope_scaling_orig_ctx / (rot * 2 * std::numbers::pi)) / (2 * std::log(base)); };
            const double low = std::max(0.0, std::floor(corr(p.rope_yarn_beta_fast)));
            const double high = std::min(n - 1.0, std::ceil(corr(p.rope_yarn_beta_slow)));
            for (int i = 0; i < n / 2; ++i) {
                const double ramp = std::clamp((i - low) / std::max(0.001, high - low), 0.0, 1.0);
                const double extrap = 1 - ramp; // weight of the unscaled frequency
                inv_freq[i] = inv_freq[i] / factor * (1 - extrap) + inv_freq[i] * extrap;
            }
            mscale = 0.1 * std::log(factor) + 1.0;
        }
    }
    void rope(double *x, int pos) const {
        Vec inv, w;
        double m;
        rope_tables(inv, w, m);
        const int n = static_cast<int>(p.n_rot);
        for (int i = 0; i < n / 2; ++i) {
            const double th = pos * inv[i], c = std::cos(th) * m, s = std::sin(th) * m;
            const int a = p.rope_type == SKULK_ROPE_NEOX ? i : 2 * i, b = p.rope_type == SKULK_ROPE_NEOX ? i + n / 2 : 2 * i + 1;
            const double x0 = x[a], x1 = x[b];
            x[a] = x0 * c - x1 * s;
            x[b] = x0 * s + x1 * c;
        }
    }

    // Logits of every position of one sequence starting at `start`.
    std::vector<Vec> forward(const std::vector<int32_t> &toks, int start) const {
        const int n = static_cast<int>(toks.size()), E = p.n_embd, H = p.n_head, KV = p.n_head_kv, D = p.head_dim_k;
        const double eps = p.rms_eps;
        std::vector<Vec> x(n);
        const Vec emb = vec("token_embd.weight");
        for (int t = 0; t < n; ++t) x[t] = Vec(emb.begin() + toks[t] * E, emb.begin() + (toks[t] + 1) * E);
        for (uint32_t l = 0; l < p.n_layer; ++l) {
            const std::string b = "blk." + std::to_string(l) + ".";
            std::vector<Vec> q(n), k(n), v(n);
            for (int t = 0; t < n; ++t) {
                const Vec h = rms(x[t], vec(b + "attn_norm.weight"), eps);
                q[t] = mat(b + "attn_q.weight", h);
                k[t] = mat(b + "attn_k.weight", h);
                v[t] = mat(b + "attn_v.weight", h);
                const Vec bq = vec(b + "attn_q.bias"), bk = vec(b + "attn_k.bias"), bv = vec(b + "attn_v.bias");
                for (size_t i = 0; i < bq.size(); ++i) q[t][i] += bq[i];
                for (size_t i = 0; i < bk.size(); ++i) k[t][i] += bk[i];
                for (size_t i = 0; i < bv.size(); ++i) v[t][i] += bv[i];
                const Vec qn = vec(b + "attn_q_norm.weight"), kn = vec(b + "attn_k_norm.weight");
                for (int hh = 0; hh < H; ++hh) {
                    if (!qn.empty()) {
                        const Vec r = rms(q[t], qn, eps, hh * D, D);
                        std::copy(r.begin(), r.end(), q[t].begin() + hh * D);
                    }
                    rope(&q[t][hh * D], start + t);
                }
                for (int hh = 0; hh < KV; ++hh) {
                    if (!kn.empty()) {
                        const Vec r = rms(k[t], kn, eps, hh * D, D);
                        std::copy(r.begin(), r.end(), k[t].begin() + hh * D);
                    }
                    rope(&k[t][hh * D], start + t);
                }
            }
            for (int t = 0; t < n; ++t) {
                Vec att(H * D, 0.0);
                for (int hh = 0; hh < H; ++hh) {
                    const int g = hh / (H / KV);
                    Vec sc(t + 1);
                    double mx = -1e300, sum = 0;
                    for (int j = 0; j <= t; ++j) {
                        double d = 0;
                        for (int i = 0; i < D; ++i) d += q[t][hh * D + i] * k[j][g * D + i];
                        sc[j] = d / std::sqrt(static_cast<double>(D));
                        mx = std::max(mx, sc[j]);
                    }
                    for (auto &s : sc) sum += (s = std::exp(s - mx));
                    for (int j = 0; j <= t; ++j)
                        for (int i = 0; i < D; ++i) att[hh * D + i] += sc[j] / sum * v[j][g * D + i];
                }
                const Vec o = mat(b + "attn_output.weight", att);
                for (int i = 0; i < E; ++i) x[t][i] += o[i];
                const Vec h = rms(x[t], vec(b + "ffn_norm.weight"), eps);
                Vec gt = mat(b + "ffn_gate.weight", h);
                const Vec up = mat(b + "ffn_up.weight", h);
                for (size_t i = 0; i < gt.size(); ++i) gt[i] = gt[i] / (1 + std::exp(-gt[i])) * up[i];
                const Vec dn = mat(b + "ffn_down.weight", gt);
                for (int i = 0; i < E; ++i) x[t][i] += dn[i];
            }
        }
        std::vector<Vec> logits(n);
        const std::string out = f.tensor("output.weight") ? "output.weight" : "token_embd.weight";
        for (int t = 0; t < n; ++t) logits[t] = mat(out, rms(x[t], vec("output_norm.weight"), eps));
        return logits;
    }
};

std::filesystem::path synth(const std::string &arch) {
    const auto dir = build_dir() / "test-models";
    std::filesystem::create_directories(dir);
    const auto out = dir / ("synth-" + arch + "-f32.gguf");
    const auto tmp = dir / ("synth-" + arch + "-f32.gguf.tmp." + std::to_string(getpid()));
    model::SynthOptions o;
    o.arch = arch;
    o.shape.n_embd = 64;
    o.shape.n_layer = 2;
    o.shape.n_head = 4;
    o.shape.n_head_kv = 2;
    o.shape.head_dim = 32; // not n_embd / n_head: q is wider than the hidden state
    o.shape.n_ff = 96;
    o.shape.n_ctx = 256;
    o.shape.rms_eps = 1e-6f;
    o.vocab_from = shared_dir() / "models" / "stories260K.gguf";
    o.seed = 7;
    o.std = 0.15f;
    o.embd_std = 1.0f;
    model::synth_model(o, tmp);
    std::filesystem::rename(tmp, out); // atomic: racing test processes see a whole file
    return out;
}

// Engine logits for `toks` at positions start.., with the given params.
std::vector<float> engine_logits(const model::GgufFile &f, const model::ModelParams &p, const std::vector<int32_t> &toks, int start) {
    const auto ts = engine::lend_tensors(f, 0, p.n_layer - 1, SKULK_RANGE_EMBED | SKULK_RANGE_HEAD);
    const skulk_model_params abi = model::to_abi(p);
    skulk_compute_options o{};
    o.size = sizeof o;
    o.n_threads = 2;
    o.n_ctx = 256;
    o.n_batch_max = 64;
    o.n_seq_max = 1;
    o.kv_type = SKULK_KV_F32;
    const ComputePlugin plugin = cpu_blas_plugin();
    skulk_compute_instance *inst = nullptr;
    string_sink err;
    EXPECT_EQ(plugin.vtable->create(&abi, 0, p.n_layer - 1, SKULK_RANGE_EMBED | SKULK_RANGE_HEAD, ts.data(), ts.size(), &o, &inst, err.get()),
              SKULK_OK)
        << err.text;
    if (!inst) return {};
    std::vector<int32_t> pos(toks.size());
    std::vector<uint32_t> seq(toks.size(), 0);
    for (size_t i = 0; i < toks.size(); ++i) pos[i] = start + static_cast<int32_t>(i);
    skulk_batch b{};
    b.size = sizeof b;
    b.n_tokens = static_cast<uint32_t>(toks.size());
    b.token = toks.data();
    b.pos = pos.data();
    b.seq_id = seq.data();
    std::vector<float> out(toks.size() * p.n_vocab);
    EXPECT_EQ(plugin.vtable->forward(inst, &b, out.data(), out.size()), SKULK_OK);
    plugin.vtable->destroy(inst);
    return out;
}

model::ModelParams as_is(model::ModelParams p) { return p; }

double compare(const std::string &arch, model::ModelParams tweak(model::ModelParams), int start) {
    const auto file = model::GgufFile::open(synth(arch));
    const model::ModelParams p = tweak(model::read_hparams(*file));
    const std::vector<int32_t> toks = {1, 403, 53, 290, 11, 77, 401, 2, 300, 17, 95, 260, 33, 480, 5, 128};
    const std::vector<float> got = engine_logits(*file, p, toks, start);
    const std::vector<Vec> want = Ref{*file, p}.forward(toks, start);
    double worst = 0, scale = 0;
    for (size_t t = 0; t < toks.size(); ++t)
        for (uint32_t i = 0; i < p.n_vocab; ++i) {
            worst = std::max(worst, std::fabs(got[t * p.n_vocab + i] - want[t][i]));
            scale = std::max(scale, std::fabs(want[t][i]));
        }
    EXPECT_GT(scale, 1.0); // the logits are not degenerate
    if (tweak != as_is) {
        // The variant must matter at these positions, or the test proves nothing.
        const std::vector<Vec> plain = Ref{*file, model::read_hparams(*file)}.forward(toks, start);
        double moved = 0;
        for (size_t t = 0; t < toks.size(); ++t)
            for (uint32_t i = 0; i < p.n_vocab; ++i) moved = std::max(moved, std::fabs(plain[t][i] - want[t][i]));
        EXPECT_GT(moved, 0.1) << "the RoPE variant barely changes the logits";
    }
    return worst;
}

TEST(ReferenceForward, Qwen3WithQkNorms) { EXPECT_LE(compare("qwen3", as_is, 0), 1e-3); }
TEST(ReferenceForward, Qwen2WithBiasesAndNeox) { EXPECT_LE(compare("qwen2", as_is, 0), 1e-3); }
TEST(ReferenceForward, LlamaLongPositions) { EXPECT_LE(compare("llama", as_is, 200), 1e-3); }

TEST(ReferenceForward, RopeLinearScaling) {
    EXPECT_LE(compare("llama", [](model::ModelParams p) {
        p.rope_scaling = model::RopeScaling::linear;
        p.rope_scaling_factor = 4;
        p.rope_freq_scale = 0.25f;
        return p;
    }, 150), 1e-3);
}

TEST(ReferenceForward, RopeYarnScaling) {
    EXPECT_LE(compare("qwen3", [](model::ModelParams p) {
        p.rope_scaling = model::RopeScaling::yarn;
        p.rope_scaling_factor = 4;
        p.rope_freq_scale = 0.25f;
        p.rope_scaling_orig_ctx = 64;
        p.rope_yarn_ext_factor = 1;
        p.rope_yarn_beta_fast = 32;
        p.rope_yarn_beta_slow = 1;
        return p;
    }, 150), 1e-3);
}

TEST(ReferenceForward, RopeLlama3Scaling) {
    EXPECT_LE(compare("llama", [](model::ModelParams p) {
        p.rope_scaling = model::RopeScaling::llama3;
        p.rope_scaling_factor = 8;
        p.rope_freq_scale = 1.0f;
        p.rope_scaling_orig_ctx = 64;
        p.rope_llama3_low_freq_factor = 1;
        p.rope_llama3_high_freq_factor = 4;
        return p;
    }, 150), 1e-3);
}

} // namespace
} // namespace skulk::test
