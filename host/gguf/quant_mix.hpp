// Which GGUF type each tensor of a model gets for a requested file type:
// plain types put every matrix in that type; Q4_K_M / Q5_K_M follow
// llama.cpp's llama_tensor_get_type (src/llama-quant.cpp, b4748).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace skulk::model {

struct QuantPlan {
    std::string name;      // "Q4_K_M", "Q8_0", ...
    uint32_t base_type;    // the GGUF type of most matrices
    bool k_mix;            // the _M mixes (more bits for attn_v/ffn_down/output)
    uint32_t file_type;    // general.file_type (llama_ftype)
};

// nullopt for a name we do not produce.
std::optional<QuantPlan> quant_plan(std::string_view name);
const char *supported_quant_names();

// llama.cpp's use_more_bits(i_layer, n_layers).
bool use_more_bits(int i_layer, int n_layers);

// The type of one tensor. `name` is the GGUF tensor name, ne0 its row length,
// n_dims its rank, tied whether token_embd doubles as the output matrix.
uint32_t tensor_type(const QuantPlan &plan, std::string_view name, int64_t ne0, uint32_t n_dims, int n_layers,
                     bool tied);

} // namespace skulk::model
