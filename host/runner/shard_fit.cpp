#include "runner/shard_fit.hpp"

#include "engine/lend.hpp"
#include "gguf/hparams.hpp"
#include "placement/planner.hpp"
#include "telemetry/gather.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace skulk::runner {

ShardNeed shard_need(const model::GgufFile &file, uint32_t first, uint32_t last, uint32_t range_flags, uint32_t n_ctx) {
    ShardNeed n;
    for (const auto &t : engine::lend_tensors(file, first, last, range_flags)) n.weights += t.nbytes;
    const auto p = model::read_hparams(file);
    const uint64_t per_token_layer = 2ull * p.n_head_kv * (p.head_dim_k + p.head_dim_v); // K and V, f16
    n.kv = per_token_layer * uint64_t(last - first + 1) * n_ctx;
    return n;
}

uint64_t runner_memory_budget() {
    uint64_t total = 0, available = UINT64_MAX;
    std::ifstream in("/proc/meminfo");
    std::ostringstream text;
    text << in.rdbuf();
    if (!telemetry::parse_meminfo(text.str(), total, available)) available = UINT64_MAX;
    if (const char *v = std::getenv("SKULK_RUNNER_MEMORY_LIMIT_BYTES"); v && *v) {
        char *end = nullptr;
        const unsigned long long limit = std::strtoull(v, &end, 10);
        if (end != v && *end == '\0' && limit < available) available = limit;
    }
    return available;
}

std::string refuse_reason(const ShardNeed &need, uint64_t budget, uint32_t first, uint32_t last) {
    if (need.total() <= budget) return "";
    using placement::human_bytes;
    return "layers " + std::to_string(first) + ".." + std::to_string(last) + " need " + human_bytes(need.total()) +
           " (weights " + human_bytes(need.weights) + " + KV " + human_bytes(need.kv) + "; " +
           std::to_string(need.total()) + " bytes), this node has " + human_bytes(budget) + " (" +
           std::to_string(budget) + " bytes)";
}

} // namespace skulk::runner
