#include "placement/model_facts.hpp"

#include <algorithm>

namespace skulk::placement {

ModelFacts model_facts(const cards::ModelCard &card) {
    ModelFacts f;
    f.model_id = card.model_id;
    f.n_layers = card.n_layers;
    f.weight_bytes = card.storage_size;
    uint64_t width = 0; // K (or V) elements per token and layer
    if (card.hidden_size && card.num_key_value_heads)
        width = std::min<uint64_t>(card.hidden_size, uint64_t(card.num_key_value_heads) * kAssumedHeadDim);
    else if (card.hidden_size)
        width = card.hidden_size; // no GQA facts: as wide as the hidden state (no grouping)
    if (!width) {
        width = kFallbackKvWidth;
        f.kv_estimated = true;
    }
    f.kv_bytes_per_token = uint64_t(card.n_layers) * 2 * width * kKvBytesPerElement;
    uint32_t ctx = card.placement.max_context_tokens.value_or(0);
    if (!ctx) ctx = card.context_length;
    f.context_tokens = ctx ? std::min(ctx, kMaxContextBudgetTokens) : kMaxContextBudgetTokens;
    f.supports_tensor = card.supports_tensor;
    f.compatible_backends = card.placement.compatible_backends;
    f.backend_preference = card.placement.backend_preference;
    return f;
}

} // namespace skulk::placement
