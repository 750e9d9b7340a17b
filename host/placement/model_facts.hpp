// What the planner needs to know about a model, derived from its card.
// Pure: no I/O.
#pragma once

#include "cards/model_card.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace skulk::placement {

// Memory admission constants (docs/architecture.md "## Placement").
constexpr unsigned kGgufEngineOverheadPercent = 110;  // weights x 1.10: engine scratch, repacking, page slack
constexpr uint64_t kNodeFloorBytes = 256ull << 20;    // runner process, tokenizer, buffers
constexpr uint32_t kMaxContextBudgetTokens = 8192;    // KV is reserved for at most this many tokens
// When a card lacks the KV facts (hidden_size / num_key_value_heads): K and V
// assumed 4096 wide each, f16, per layer (a 7-8B-class model without GQA; an
// over-estimate for anything smaller).
constexpr uint64_t kFallbackKvWidth = 4096;
constexpr uint64_t kAssumedHeadDim = 128;             // typical llama/qwen head size
constexpr uint64_t kKvBytesPerElement = 2;            // f16 cache

struct ModelFacts {
    std::string model_id;
    uint32_t n_layers = 0;
    uint64_t weight_bytes = 0;        // the GGUF's size
    uint64_t kv_bytes_per_token = 0;  // all layers, K + V
    bool kv_estimated = false;        // true when the card lacked the KV facts
    uint32_t context_tokens = 0;      // the budget every rank reserves KV for
    bool supports_tensor = false;
    std::vector<std::string> compatible_backends; // empty: any backend
    std::vector<std::string> backend_preference;  // ordered
};

// Derives the facts. KV per token and layer = 2 (K, V) x min(hidden_size,
// num_key_value_heads x 128) x 2 bytes; the context budget is
// min(max_context_tokens or context_length, 8192) tokens (8192 when the card
// names neither).
ModelFacts model_facts(const cards::ModelCard &card);

} // namespace skulk::placement
