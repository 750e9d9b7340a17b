#include "engine/compute_session.hpp"

#include "engine/lend.hpp"

#include <skulk/plugin.hpp>

#include <algorithm>

namespace skulk::engine {

namespace {
bool has_slot(const skulk_compute_v1 *vt, size_t offset) { return vt && vt->size >= offset + sizeof(void *); }
#define SKULK_HAS_SLOT(vt, slot) (has_slot(vt, offsetof(skulk_compute_v1, slot)) && (vt)->slot)
} // namespace

ComputeSession::ComputeSession(std::shared_ptr<const void> plugin_owner, const skulk_compute_v1 *vtable,
                               std::shared_ptr<const model::GgufFile> file, uint32_t first, int32_t last,
                               uint32_t range_flags, const SessionOptions &options)
    : owner_(std::move(plugin_owner)), vt_(vtable), file_(std::move(file)), options_(options), flags_(range_flags),
      first_(first) {
    if (!file_) throw EngineError(SKULK_E_INVALID, "compute session: no model file");
    if (!SKULK_HAS_SLOT(vt_, create) || !SKULK_HAS_SLOT(vt_, forward) || !SKULK_HAS_SLOT(vt_, destroy))
        throw EngineError(SKULK_E_UNSUPPORTED, "compute plugin lacks create/forward/destroy");
    params_ = model::read_hparams(*file_);
    const uint32_t last_layer = last < 0 ? params_.n_layer - 1 : static_cast<uint32_t>(last);
    if (first > last_layer || last_layer >= params_.n_layer)
        throw EngineError(SKULK_E_INVALID, file_->path().string() + ": layer range [" + std::to_string(first) + ", " +
                                               std::to_string(last_layer) + "] is outside the model's " +
                                               std::to_string(params_.n_layer) + " layers");
    last_ = last_layer;
    if (options_.n_ctx == 0) options_.n_ctx = std::min<uint32_t>(params_.n_ctx_train ? params_.n_ctx_train : 4096, 4096);
    tensors_ = lend_tensors(*file_, first, last_layer, range_flags);

    const skulk_model_params abi = model::to_abi(params_);
    skulk_compute_options o{};
    o.size = sizeof o;
    o.n_threads = options_.n_threads;
    o.n_ctx = options_.n_ctx;
    o.n_seq_max = options_.n_seq_max;
    o.n_batch_max = options_.n_batch_max;
    o.kv_type = options_.kv_type;
    o.extra_json = to_str(options_.extra_json);
    string_sink err;
    const skulk_status st =
        vt_->create(&abi, first, last_layer, range_flags, tensors_.data(), tensors_.size(), &o, &instance_, err.get());
    if (st != SKULK_OK || !instance_) {
        instance_ = nullptr;
        throw EngineError(st == SKULK_OK ? SKULK_E_INTERNAL : st,
                          file_->path().string() + ": the compute plugin refused the model: " +
                              (err.text.empty() ? "status " + std::to_string(st) : err.text));
    }
}

ComputeSession::~ComputeSession() {
    if (instance_) vt_->destroy(instance_); // before owner_ may unload the library
}

void ComputeSession::forward(const skulk_batch &batch, float *out, size_t out_cap) {
    const skulk_status st = vt_->forward(instance_, &batch, out, out_cap);
    if (st != SKULK_OK)
        throw EngineError(st, "forward of " + std::to_string(batch.n_tokens) + " tokens failed with status " +
                                  std::to_string(st) + " (the plugin logged the reason)");
}

void ComputeSession::seq_drop(uint32_t seq, int32_t p0, int32_t p1) {
    if (!SKULK_HAS_SLOT(vt_, seq_drop)) throw EngineError(SKULK_E_UNSUPPORTED, "compute plugin lacks seq_drop");
    const skulk_status st = vt_->seq_drop(instance_, seq, p0, p1);
    if (st != SKULK_OK) throw EngineError(st, "seq_drop(" + std::to_string(seq) + ") failed");
}

void ComputeSession::seq_copy(uint32_t src, uint32_t dst, int32_t p1) {
    if (!SKULK_HAS_SLOT(vt_, seq_copy)) throw EngineError(SKULK_E_UNSUPPORTED, "compute plugin lacks seq_copy");
    const skulk_status st = vt_->seq_copy(instance_, src, dst, p1);
    if (st != SKULK_OK) throw EngineError(st, "seq_copy(" + std::to_string(src) + ", " + std::to_string(dst) + ") failed");
}

std::string ComputeSession::memory_json() {
    if (!SKULK_HAS_SLOT(vt_, memory)) return "{}";
    string_sink s;
    const skulk_status st = vt_->memory(instance_, s.get());
    if (st != SKULK_OK) throw EngineError(st, "memory report failed");
    return s.text;
}

} // namespace skulk::engine
