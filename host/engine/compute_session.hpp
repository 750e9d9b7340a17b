// One instance of a compute plugin over one layer range of one GGUF model:
// lends the file's tensors (zero-copy), creates the instance, and forwards
// batches. Owns what must outlive the instance: the plugin library (through
// an opaque owner such as shared_ptr<const plugin::LoadedPlugin>), the
// mapped file and the lent descriptors.
#pragma once

#include "gguf/gguf.hpp"
#include "gguf/hparams.hpp"

#include <skulk/abi.h>

#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace skulk::engine {

// The message says what failed and why (the plugin's reason when it gave one).
struct EngineError : std::runtime_error {
    skulk_status status;
    EngineError(skulk_status st, const std::string &msg) : std::runtime_error(msg), status(st) {}
};

struct SessionOptions {
    uint32_t n_threads = 0;   // 0: all cores
    uint32_t n_ctx = 0;       // 0: the model's training context, at most 4096
    uint32_t n_seq_max = 1;
    uint32_t n_batch_max = 512;
    skulk_kv_type kv_type = SKULK_KV_F16;
    std::string extra_json;   // engine-specific
};

class ComputeSession {
public:
    // first/last: the layer range (inclusive); last < 0: to the last layer.
    ComputeSession(std::shared_ptr<const void> plugin_owner, const skulk_compute_v1 *vtable,
                   std::shared_ptr<const model::GgufFile> file, uint32_t first, int32_t last, uint32_t range_flags,
                   const SessionOptions &options);
    ~ComputeSession();
    ComputeSession(const ComputeSession &) = delete;
    ComputeSession &operator=(const ComputeSession &) = delete;

    // Throws EngineError (SKULK_E_INVALID for a batch the engine refused).
    void forward(const skulk_batch &batch, float *out, size_t out_cap);
    void seq_drop(uint32_t seq, int32_t p0 = 0, int32_t p1 = -1);
    void seq_copy(uint32_t src, uint32_t dst, int32_t p1 = -1);
    // {"weights_bytes":..,"kv_bytes":..,"scratch_bytes":..} as the plugin reports it.
    std::string memory_json();

    const model::ModelParams &params() const { return params_; }
    const model::GgufFile &file() const { return *file_; }
    uint32_t n_ctx() const { return options_.n_ctx; }
    uint32_t n_batch_max() const { return options_.n_batch_max; }
    uint32_t n_seq_max() const { return options_.n_seq_max; }
    uint32_t range_flags() const { return flags_; }
    uint32_t first_layer() const { return first_; }
    uint32_t last_layer() const { return last_; }
    int n_vocab() const { return static_cast<int>(params_.n_vocab); }
    int n_embd() const { return static_cast<int>(params_.n_embd); }

private:
    std::shared_ptr<const void> owner_;
    const skulk_compute_v1 *vt_;
    std::shared_ptr<const model::GgufFile> file_;
    model::ModelParams params_;
    std::vector<skulk_tensor> tensors_;
    SessionOptions options_;
    uint32_t flags_;
    uint32_t first_ = 0, last_ = 0;
    skulk_compute_instance *instance_ = nullptr;
};

} // namespace skulk::engine
