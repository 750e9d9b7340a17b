#include "weights.hpp"

#include <skulk/plugin.hpp>

#include <string_view>
#include <unordered_map>

namespace skulk::cpu {

namespace {

std::string shape_of(const skulk_tensor &t) {
    std::string s = "[";
    for (uint32_t i = 0; i < t.n_dims; ++i) s += (i ? ", " : "") + std::to_string(t.ne[i]);
    return s + "]";
}

[[noreturn]] void invalid(const std::string &msg) { throw status_error(SKULK_E_INVALID, msg); }

class TensorIndex {
public:
    TensorIndex(std::span<const skulk_tensor> ts, uint64_t &bytes) : bytes_(bytes) {
        for (const auto &t : ts) {
            if (t.size < sizeof(skulk_tensor)) invalid("tensor descriptor too small (size " + std::to_string(t.size) + ")");
            by_name_[std::string(view(t.name))] = &t;
        }
    }
    const skulk_tensor *find(const std::string &name) {
        auto it = by_name_.find(name);
        if (it == by_name_.end()) return nullptr;
        if (!it->second->data) invalid("tensor " + name + " has no data");
        bytes_ += it->second->nbytes;
        return it->second;
    }
    const skulk_tensor &require(const std::string &name) {
        const skulk_tensor *t = find(name);
        if (!t) invalid("missing tensor " + name);
        return *t;
    }

private:
    std::unordered_map<std::string, const skulk_tensor *> by_name_;
    uint64_t &bytes_;
};

std::unique_ptr<PackedMatrix> matrix(const skulk_tensor &t, int64_t cols, int64_t rows) {
    const std::string name(view(t.name));
    if (t.n_dims != 2 || t.ne[0] != cols || t.ne[1] != rows)
        invalid("tensor " + name + " has shape " + shape_of(t) + ", expected [" + std::to_string(cols) + ", " +
                std::to_string(rows) + "]");
    try {
        return pack_matrix(t.gguf_type, t.data, rows, cols);
    } catch (const status_error &) {
        throw;
    } catch (const std::exception &e) {
        throw status_error(SKULK_E_UNSUPPORTED, "tensor " + name + ": " + e.what());
    }
}

std::vector<float> vec(const skulk_tensor &t, int64_t n) {
    const std::string name(view(t.name));
    if (t.ne[0] != n || t.ne[1] * t.ne[2] * t.ne[3] != 1)
        invalid("tensor " + name + " has shape " + shape_of(t) + ", expected [" + std::to_string(n) + "]");
    std::vector<float> out(n);
    try {
        dequantize_row(t.gguf_type, t.data, out.data(), n);
    } catch (const std::exception &e) {
        throw status_error(SKULK_E_UNSUPPORTED, "tensor " + name + ": " + e.what());
    }
    return out;
}

std::vector<float> opt_vec(TensorIndex &idx, const std::string &name, int64_t n) {
    const skulk_tensor *t = idx.find(name);
    return t ? vec(*t, n) : std::vector<float>{};
}

} // namespace

Weights load_weights(const Hyper &h, uint32_t first, uint32_t last, uint32_t range_flags,
                     std::span<const skulk_tensor> tensors) {
    Weights w;
    TensorIndex idx(tensors, w.bytes);
    const bool qwen2 = h.arch == "qwen2", qwen3 = h.arch == "qwen3";

    if (const skulk_tensor *rf = idx.find("rope_freqs.weight")) w.rope_freqs = vec(*rf, rf->ne[0]);

    if (range_flags & (SKULK_RANGE_EMBED | SKULK_RANGE_HEAD)) {
        const skulk_tensor *te = (range_flags & SKULK_RANGE_EMBED) ? &idx.require("token_embd.weight")
                                                                    : idx.find("token_embd.weight");
        if (te && (te->n_dims != 2 || te->ne[0] != h.n_embd || te->ne[1] != h.n_vocab))
            invalid("tensor token_embd.weight has shape " + shape_of(*te) + ", expected [" +
                    std::to_string(h.n_embd) + ", " + std::to_string(h.n_vocab) + "]");
        if (range_flags & SKULK_RANGE_EMBED) {
            if (te->nb[1] == 0 || te->nb[1] * static_cast<uint64_t>(te->ne[1]) > te->nbytes)
                invalid("tensor token_embd.weight: row stride nb[1] does not fit its bytes");
            w.token_embd = te;
        }
        if (range_flags & SKULK_RANGE_HEAD) {
            w.output_norm = vec(idx.require("output_norm.weight"), h.n_embd);
            const skulk_tensor *out = idx.find("output.weight");
            if (!out) out = te; // tied output: the head reuses the embedding table
            if (!out) invalid("missing tensor output.weight (and no token_embd.weight to tie it to)");
            w.output = matrix(*out, h.n_embd, h.n_vocab);
        }
    }

    for (uint32_t il = first; il <= last; ++il) {
        const std::string p = "blk." + std::to_string(il) + ".";
        LayerWeights L;
        L.attn_norm = vec(idx.require(p + "attn_norm.weight"), h.n_embd);
        L.wq = matrix(idx.require(p + "attn_q.weight"), h.n_embd, h.q_dim());
        L.wk = matrix(idx.require(p + "attn_k.weight"), h.n_embd, h.k_dim());
        L.wv = matrix(idx.require(p + "attn_v.weight"), h.n_embd, h.v_dim());
        L.wo = matrix(idx.require(p + "attn_output.weight"), h.attn_out_dim(), h.n_embd);
        if (qwen2) {
            L.bq = vec(idx.require(p + "attn_q.bias"), h.q_dim());
            L.bk = vec(idx.require(p + "attn_k.bias"), h.k_dim());
            L.bv = vec(idx.require(p + "attn_v.bias"), h.v_dim());
        } else {
            L.bq = opt_vec(idx, p + "attn_q.bias", h.q_dim());
            L.bk = opt_vec(idx, p + "attn_k.bias", h.k_dim());
            L.bv = opt_vec(idx, p + "attn_v.bias", h.v_dim());
        }
        if (qwen3) {
            L.q_norm = vec(idx.require(p + "attn_q_norm.weight"), h.head_dim_k);
            L.k_norm = vec(idx.require(p + "attn_k_norm.weight"), h.head_dim_k);
        } else {
            L.q_norm = opt_vec(idx, p + "attn_q_norm.weight", h.head_dim_k);
            L.k_norm = opt_vec(idx, p + "attn_k_norm.weight", h.head_dim_k);
        }
        L.ffn_norm = vec(idx.require(p + "ffn_norm.weight"), h.n_embd);
        L.w_gate = matrix(idx.require(p + "ffn_gate.weight"), h.n_embd, h.n_ff);
        L.w_up = matrix(idx.require(p + "ffn_up.weight"), h.n_embd, h.n_ff);
        L.w_down = matrix(idx.require(p + "ffn_down.weight"), h.n_ff, h.n_embd);
        w.layers.push_back(std::move(L));
    }
    return w;
}

} // namespace skulk::cpu
