// Does this node have the memory for the shard it was given? The planner
// decided from a telemetry reading that may be seconds old; the runner
// checks again before it loads, and refuses (exit code 3, status line
// "refused <arithmetic>") instead of dying of an out-of-memory kill, so the
// worker can have the model re-placed one node wider.
#pragma once

#include "gguf/gguf.hpp"

#include <cstdint>
#include <string>

namespace skulk::runner {

// Exit code of a runner that refused its shard (the supervisor does not retry it).
constexpr int kExitRefused = 3;

struct ShardNeed {
    uint64_t weights = 0; // bytes of the tensors this range reads
    uint64_t kv = 0;      // f16 KV of one full context over this range's layers
    uint64_t total() const { return weights + kv; }
};
ShardNeed shard_need(const model::GgufFile &file, uint32_t first, uint32_t last, uint32_t range_flags, uint32_t n_ctx);

// The memory a runner may count on: MemAvailable, lowered by
// SKULK_RUNNER_MEMORY_LIMIT_BYTES when set.
uint64_t runner_memory_budget();

// "" when it fits; else the arithmetic, e.g. "layers 0..11 need 3.1 GB
// (weights 2.9 GB + KV 0.2 GB), this node has 2.0 GB".
std::string refuse_reason(const ShardNeed &need, uint64_t budget, uint32_t first, uint32_t last);

} // namespace skulk::runner
