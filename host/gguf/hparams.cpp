#include "gguf/hparams.hpp"

#include <fmt/format.h>

#include <array>
#include <string_view>

namespace skulk::model {

namespace {

struct ArchInfo {
    std::string_view name;
    uint32_t rope_type;
};
// llama rotates interleaved pairs; the Qwen family rotates split halves
// (llama.cpp llama_model_rope_type).
constexpr std::array<ArchInfo, 3> kArchs{{
    {"llama", SKULK_ROPE_NORMAL},
    {"qwen2", SKULK_ROPE_NEOX},
    {"qwen3", SKULK_ROPE_NEOX},
}};

class Keys {
public:
    Keys(const GgufFile &f, std::string arch) : f_(f), arch_(std::move(arch)) {}
    std::string key(std::string_view suffix) const { return arch_ + "." + std::string(suffix); }
    std::optional<uint32_t> u32(std::string_view suffix) const { return f_.get_u32(key(suffix)); }
    std::optional<float> f32(std::string_view suffix) const { return f_.get_f32(key(suffix)); }
    uint32_t required_u32(std::string_view suffix) const {
        auto v = u32(suffix);
        if (!v) f_.fail(fmt::format("missing required metadata '{}'", key(suffix)));
        return *v;
    }
    float required_f32(std::string_view suffix) const {
        auto v = f32(suffix);
        if (!v) f_.fail(fmt::format("missing required metadata '{}'", key(suffix)));
        return *v;
    }

private:
    const GgufFile &f_;
    std::string arch_;
};

RopeScaling parse_scaling(const GgufFile &f, const std::string &key, const std::string &s) {
    if (s == "none") return RopeScaling::none;
    if (s == "linear") return RopeScaling::linear;
    if (s == "yarn") return RopeScaling::yarn;
    if (s == "llama3") return RopeScaling::llama3;
    f.fail(fmt::format("metadata '{}': unsupported rope scaling type '{}' (supported: none, linear, yarn, llama3)",
                       key, s));
}

} // namespace

const char *supported_architectures() { return "llama, qwen2, qwen3"; }

ModelParams read_hparams(const GgufFile &f) {
    auto arch = f.get_string("general.architecture");
    if (!arch) f.fail("missing required metadata 'general.architecture'");
    const ArchInfo *info = nullptr;
    for (const auto &a : kArchs)
        if (a.name == *arch) info = &a;
    if (!info)
        f.fail(fmt::format("unsupported architecture '{}' (supported: {})", *arch, supported_architectures()));

    ModelParams p;
    p.arch = *arch;
    p.rope_type = info->rope_type;
    Keys k(f, p.arch);

    p.n_layer = k.required_u32("block_count");
    p.n_embd = k.required_u32("embedding_length");
    p.n_ff = k.required_u32("feed_forward_length");
    p.n_head = k.required_u32("attention.head_count");
    p.n_ctx_train = k.required_u32("context_length");
    p.rms_eps = k.required_f32("attention.layer_norm_rms_epsilon");
    if (p.n_layer == 0) f.fail(fmt::format("'{}' must be > 0", k.key("block_count")));
    if (p.n_embd == 0) f.fail(fmt::format("'{}' must be > 0", k.key("embedding_length")));
    if (p.n_head == 0) f.fail(fmt::format("'{}' must be > 0", k.key("attention.head_count")));
    p.n_head_kv = k.u32("attention.head_count_kv").value_or(p.n_head);
    if (p.n_head_kv == 0 || p.n_head % p.n_head_kv != 0)
        f.fail(fmt::format("'{}' = {} must be > 0 and divide the head count {}", k.key("attention.head_count_kv"),
                           p.n_head_kv, p.n_head));
    p.head_dim_k = k.u32("attention.key_length").value_or(p.n_embd / p.n_head);
    p.head_dim_v = k.u32("attention.value_length").value_or(p.n_embd / p.n_head);
    if (p.head_dim_k == 0 || p.head_dim_v == 0) f.fail("attention head size is 0");
    p.n_rot = k.u32("rope.dimension_count").value_or(p.head_dim_k);
    if (p.n_rot > p.head_dim_k || p.n_rot % 2 != 0)
        f.fail(fmt::format("'{}' = {} must be even and at most the head size {}", k.key("rope.dimension_count"),
                           p.n_rot, p.head_dim_k));
    p.rope_freq_base = k.f32("rope.freq_base").value_or(10000.0f);

    // Rope scaling (llama.cpp: the factor applies whatever the type; an old
    // file may carry only rope.scale_linear).
    std::string type_key = k.key("rope.scaling.type");
    if (auto t = f.get_string(type_key)) p.rope_scaling = parse_scaling(f, type_key, *t);
    float factor = k.f32("rope.scaling.factor").value_or(0.0f);
    if (factor == 0.0f) factor = k.f32("rope.scale_linear").value_or(0.0f);
    if (factor < 0.0f) f.fail(fmt::format("'{}' must not be negative", k.key("rope.scaling.factor")));
    if (factor != 0.0f && p.rope_scaling == RopeScaling::none && !f.find(type_key))
        p.rope_scaling = RopeScaling::linear;
    p.rope_scaling_factor = factor;
    p.rope_freq_scale = factor == 0.0f ? 1.0f : 1.0f / factor;
    p.rope_scaling_orig_ctx = k.u32("rope.scaling.original_context_length").value_or(p.n_ctx_train);
    p.rope_yarn_ext_factor = p.rope_scaling == RopeScaling::yarn ? 1.0f : 0.0f;
    p.rope_yarn_attn_factor = k.f32("rope.scaling.attn_factor").value_or(1.0f);
    p.rope_yarn_beta_fast = k.f32("rope.scaling.yarn_beta_fast").value_or(32.0f);
    p.rope_yarn_beta_slow = k.f32("rope.scaling.yarn_beta_slow").value_or(1.0f);
    p.rope_llama3_low_freq_factor = k.f32("rope.scaling.low_freq_factor").value_or(1.0f);
    p.rope_llama3_high_freq_factor = k.f32("rope.scaling.high_freq_factor").value_or(4.0f);

    // Vocabulary size: the token list, else the arch key, else the embedding.
    if (const GgufValue *toks = f.find("tokenizer.ggml.tokens"); toks && toks->is_array())
        p.n_vocab = static_cast<uint32_t>(toks->array_size());
    else if (auto nv = k.u32("vocab_size"))
        p.n_vocab = *nv;
    else if (const GgufTensorInfo *te = f.tensor("token_embd.weight"))
        p.n_vocab = static_cast<uint32_t>(te->ne[1]);
    else
        f.fail(fmt::format("cannot tell the vocabulary size: no 'tokenizer.ggml.tokens', '{}' or token_embd.weight",
                           k.key("vocab_size")));
    p.tied_output = !f.tensors().empty() && f.tensor("output.weight") == nullptr;
    return p;
}

skulk_model_params to_abi(const ModelParams &p) {
    skulk_model_params a{};
    a.size = sizeof a;
    a.arch = skulk_str{p.arch.data(), p.arch.size()};
    a.n_layer = p.n_layer;
    a.n_embd = p.n_embd;
    a.n_head = p.n_head;
    a.n_head_kv = p.n_head_kv;
    a.head_dim_k = p.head_dim_k;
    a.head_dim_v = p.head_dim_v;
    a.n_ff = p.n_ff;
    a.n_vocab = p.n_vocab;
    a.n_ctx_train = p.n_ctx_train;
    a.rms_eps = p.rms_eps;
    a.rope_type = p.rope_type;
    a.n_rot = p.n_rot;
    a.rope_freq_base = p.rope_freq_base;
    a.rope_freq_scale = p.rope_freq_scale;
    a.rope_scaling = static_cast<uint32_t>(p.rope_scaling);
    a.rope_scaling_factor = p.rope_scaling_factor;
    a.rope_scaling_orig_ctx = p.rope_scaling_orig_ctx;
    a.rope_yarn_ext_factor = p.rope_yarn_ext_factor;
    a.rope_yarn_attn_factor = p.rope_yarn_attn_factor;
    a.rope_yarn_beta_fast = p.rope_yarn_beta_fast;
    a.rope_yarn_beta_slow = p.rope_yarn_beta_slow;
    a.rope_llama3_low_freq_factor = p.rope_llama3_low_freq_factor;
    a.rope_llama3_high_freq_factor = p.rope_llama3_high_freq_factor;
    return a;
}

} // namespace skulk::model
