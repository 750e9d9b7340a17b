#include "gguf/synth.hpp"

#include "gguf/gguf.hpp"
#include "gguf/gguf_writer.hpp"
#include "gguf/quant_mix.hpp"
#include "quant/reference.hpp"

#include <fmt/format.h>

#include <cmath>
#include <random>
#include <stdexcept>
#include <vector>

namespace skulk::model {

SynthShape preset_shape(const std::string &p) {
    SynthShape s;
    if (p == "smollm2-135m") {
        s = {576, 30, 9, 3, 1536, 0, 8192, 100000.0f, 1e-5f, true, false};
    } else if (p == "qwen2.5-0.5b") {
        s = {896, 24, 14, 2, 4864, 0, 32768, 1000000.0f, 1e-6f, true, true};
    } else if (p == "tinyllama-1.1b") {
        s = {2048, 22, 32, 4, 5632, 0, 2048, 10000.0f, 1e-5f, false, false};
    } else {
        throw std::invalid_argument("unknown shape '" + p + "' (known: smollm2-135m, qwen2.5-0.5b, tinyllama-1.1b, custom)");
    }
    return s;
}

namespace {

// Standard normal numbers from a name-keyed stream: one tensor's values do
// not depend on which tensors came before it. std::mt19937_64 is specified
// bit for bit by the standard, so a seed makes the same file everywhere
// (the standard distributions are not, hence the hand-made conversions).
class Gauss {
public:
    Gauss(uint64_t seed, std::string_view name) : rng_(seed ^ fnv1a(name)) {}
    float next() {
        if (have_) {
            have_ = false;
            return spare_;
        }
        double u1 = uniform(), u2 = uniform();
        if (u1 < 1e-300) u1 = 1e-300;
        double r = std::sqrt(-2.0 * std::log(u1));
        spare_ = static_cast<float>(r * std::sin(2 * M_PI * u2));
        have_ = true;
        return static_cast<float>(r * std::cos(2 * M_PI * u2));
    }

private:
    static uint64_t fnv1a(std::string_view s) {
        uint64_t h = 0xcbf29ce484222325ull;
        for (char c : s) h = (h ^ static_cast<uint8_t>(c)) * 0x100000001b3ull;
        return h;
    }
    double uniform() { return double(rng_() >> 11) * 0x1.0p-53; } // [0, 1)
    std::mt19937_64 rng_;
    float spare_ = 0;
    bool have_ = false;
};

struct TensorSpec {
    std::string name;
    std::vector<int64_t> ne;
    float mean, std;
};

} // namespace

void synth_model(const SynthOptions &o, const std::filesystem::path &out) {
    if (o.arch != "llama" && o.arch != "qwen2" && o.arch != "qwen3")
        throw std::invalid_argument("unsupported --arch '" + o.arch + "' (supported: llama, qwen2, qwen3)");
    auto plan = quant_plan(o.type);
    if (!plan) throw std::invalid_argument("unsupported --type '" + o.type + "' (supported: " + supported_quant_names() + ")");
    const SynthShape &s = o.shape;
    if (!s.n_embd || !s.n_layer || !s.n_head || !s.n_ff) throw std::invalid_argument("shape needs n_embd, n_layer, n_head and n_ff > 0");
    const uint32_t n_kv = s.n_head_kv ? s.n_head_kv : s.n_head;
    if (s.n_head % n_kv) throw std::invalid_argument("n_head must be a multiple of n_head_kv");
    const uint32_t hd = s.head_dim ? s.head_dim : s.n_embd / s.n_head;
    if (hd == 0 || hd % 2) throw std::invalid_argument("head size must be even and > 0");

    auto vocab = GgufFile::open(o.vocab_from);
    const GgufValue *tokens = vocab->find("tokenizer.ggml.tokens");
    if (!tokens || !tokens->is_array())
        throw GgufError(o.vocab_from.string() + ": no 'tokenizer.ggml.tokens' to copy the vocabulary from");
    const int64_t n_vocab = static_cast<int64_t>(tokens->array_size());

    GgufWriter w;
    const std::string a = o.arch;
    w.set_string("general.architecture", a);
    w.set_string("general.name", o.name);
    w.set_string("general.description",
                 fmt::format("RANDOM weights (skulk-gguf synth, seed {}); for numerics and speed tests only", o.seed));
    w.set_u32("general.file_type", plan->file_type);
    if (plan->base_type != 0 && plan->base_type != 1 && plan->base_type != 30) w.set_u32("general.quantization_version", 2);
    w.set_u32(a + ".context_length", s.n_ctx);
    w.set_u32(a + ".embedding_length", s.n_embd);
    w.set_u32(a + ".block_count", s.n_layer);
    w.set_u32(a + ".feed_forward_length", s.n_ff);
    w.set_u32(a + ".attention.head_count", s.n_head);
    w.set_u32(a + ".attention.head_count_kv", n_kv);
    w.set_f32(a + ".attention.layer_norm_rms_epsilon", s.rms_eps);
    w.set_f32(a + ".rope.freq_base", s.rope_theta);
    w.set_u32(a + ".rope.dimension_count", hd);
    if (hd != s.n_embd / s.n_head) {
        w.set_u32(a + ".attention.key_length", hd);
        w.set_u32(a + ".attention.value_length", hd);
    }
    for (const auto &kv : vocab->metadata())
        if (kv.key.substr(0, 10) == "tokenizer.") w.copy_value(std::string(kv.key), kv.value);

    const int64_t E = s.n_embd, Q = static_cast<int64_t>(s.n_head) * hd, K = static_cast<int64_t>(n_kv) * hd;
    const bool bias = s.qkv_bias || o.arch == "qwen2";
    std::vector<TensorSpec> specs;
    specs.push_back({"token_embd.weight", {E, n_vocab}, 0.0f, o.embd_std});
    for (uint32_t i = 0; i < s.n_layer; ++i) {
        auto n = [&](const char *t) { return fmt::format("blk.{}.{}", i, t); };
        specs.push_back({n("attn_norm.weight"), {E}, 1.0f, 0.1f});
        specs.push_back({n("attn_q.weight"), {E, Q}, 0.0f, o.std});
        specs.push_back({n("attn_k.weight"), {E, K}, 0.0f, o.std});
        specs.push_back({n("attn_v.weight"), {E, K}, 0.0f, o.std});
        if (bias) {
            specs.push_back({n("attn_q.bias"), {Q}, 0.0f, 0.1f});
            specs.push_back({n("attn_k.bias"), {K}, 0.0f, 0.1f});
            specs.push_back({n("attn_v.bias"), {K}, 0.0f, 0.1f});
        }
        if (o.arch == "qwen3") {
            specs.push_back({n("attn_q_norm.weight"), {hd}, 1.0f, 0.1f});
            specs.push_back({n("attn_k_norm.weight"), {hd}, 1.0f, 0.1f});
        }
        specs.push_back({n("attn_output.weight"), {Q, E}, 0.0f, o.std});
        specs.push_back({n("ffn_norm.weight"), {E}, 1.0f, 0.1f});
        specs.push_back({n("ffn_gate.weight"), {E, s.n_ff}, 0.0f, o.std});
        specs.push_back({n("ffn_up.weight"), {E, s.n_ff}, 0.0f, o.std});
        specs.push_back({n("ffn_down.weight"), {static_cast<int64_t>(s.n_ff), E}, 0.0f, o.std});
    }
    specs.push_back({"output_norm.weight", {E}, 1.0f, 0.1f});
    if (!s.tied) specs.push_back({"output.weight", {E, n_vocab}, 0.0f, o.std});

    for (const TensorSpec &t : specs) {
        uint32_t type = tensor_type(*plan, t.name, t.ne[0], static_cast<uint32_t>(t.ne.size()),
                                    static_cast<int>(s.n_layer), s.tied);
        const uint64_t seed = o.seed;
        w.add_tensor(t.name, type, t.ne, [t, type, seed](std::string &buf) {
            Gauss g(seed, t.name);
            const int64_t row = t.ne[0];
            int64_t rows = 1;
            for (size_t d = 1; d < t.ne.size(); ++d) rows *= t.ne[d];
            const uint64_t row_bytes = GgufWriter::tensor_bytes(type, {row});
            std::vector<float> x(static_cast<size_t>(row));
            size_t at = buf.size();
            buf.resize(at + row_bytes * static_cast<uint64_t>(rows));
            for (int64_t r = 0; r < rows; ++r) {
                for (auto &v : x) v = t.mean + t.std * g.next();
                quant::quantize_row(type, x.data(), buf.data() + at + r * row_bytes, row);
            }
        });
    }
    w.write(out);
}

} // namespace skulk::model
