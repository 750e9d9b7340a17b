// Test helpers: the cpu_blas plugin loaded through the plugin registry (the
// path the runner and skulk-generate use) and whole-model sessions over it.
#pragma once

#include "engine/compute_session.hpp"

#include <filesystem>
#include <memory>
#include <span>
#include <vector>

namespace skulk::test {

// The registry's best compute plugin with tag cpu_blas-cpu from
// <build>/bin/plugins; loaded once per process.
struct ComputePlugin {
    std::shared_ptr<const void> owner;
    const skulk_compute_v1 *vtable = nullptr;
};
ComputePlugin cpu_blas_plugin();

std::unique_ptr<engine::ComputeSession> open_session(const std::filesystem::path &model, engine::SessionOptions opts,
                                                     uint32_t first = 0, int32_t last = -1,
                                                     uint32_t flags = SKULK_RANGE_EMBED | SKULK_RANGE_HEAD);

// Forward `tokens` of one sequence at positions start.. and return the logits
// of every row (n_tokens x n_vocab).
std::vector<float> forward_all(engine::ComputeSession &s, std::span<const int32_t> tokens, int32_t start, uint32_t seq);

} // namespace skulk::test
