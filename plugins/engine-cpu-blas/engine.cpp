// The cpu_blas compute plugin: negotiation, the compute vtable, options.
// Kind COMPUTE, name "cpu_blas", backend tag "cpu_blas-cpu".
#include "kernels/matmul.hpp"
#include "model_llama.hpp"

#include <skulk/plugin.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <memory>
#include <string>

namespace {

using skulk::status_error;
using skulk::cpu::EngineOptions;
using skulk::cpu::KvType;
using skulk::cpu::LlamaModel;

constexpr const char *kVersion = "0.1.0";
constexpr const char *kBackendTags = R"(["cpu_blas-cpu"])";

const skulk_host_api *g_host = nullptr;

void host_log(int level, const std::string &msg) {
    if (g_host && g_host->size >= offsetof(skulk_host_api, log) + sizeof(g_host->log) && g_host->log)
        g_host->log(g_host->host, level, skulk::to_str(msg));
}

int32_t score() {
#if defined(__x86_64__)
    // The kernels' portable path needs nothing, but a machine without SSE4.2
    // is too old to serve a model at a useful speed.
    if (!__builtin_cpu_supports("sse4.2")) return 0;
    const std::string isa = skulk::cpu::isa_name();
    return isa == "avx512vnni" ? 30 : isa == "avx2" ? 20 : 10;
#else
    return 1;
#endif
}

skulk_str backend_tags() { return skulk::to_str(kBackendTags); }

EngineOptions parse_options(const skulk_compute_options *o, const skulk_model_params *m) {
    EngineOptions e;
    const uint32_t ctx_default = m->n_ctx_train ? std::min<uint32_t>(m->n_ctx_train, 4096) : 2048;
    e.n_ctx = static_cast<int>(ctx_default);
    if (!o) return e; // all defaults
    if (o->size < offsetof(skulk_compute_options, extra_json)) throw status_error(SKULK_E_INVALID, "options: struct size too small");
    e.n_threads = o->n_threads;
    e.n_ctx = static_cast<int>(o->n_ctx ? o->n_ctx : ctx_default);
    e.n_seq_max = static_cast<int>(o->n_seq_max ? o->n_seq_max : 1);
    e.n_batch_max = static_cast<int>(o->n_batch_max ? o->n_batch_max : 512);
    switch (o->kv_type) {
    case SKULK_KV_F16: e.kv_type = KvType::f16; break;
    case SKULK_KV_F32: e.kv_type = KvType::f32; break;
    case SKULK_KV_BF16: e.kv_type = KvType::bf16; break;
    default: throw status_error(SKULK_E_INVALID, "options: kv_type " + std::to_string(o->kv_type) + " is not F16 (0), F32 (1) or BF16 (2)");
    }
    if (e.n_ctx <= 0 || e.n_ctx > (1 << 24)) throw status_error(SKULK_E_INVALID, "options: n_ctx out of range");
    if (e.n_batch_max <= 0 || e.n_seq_max <= 0) throw status_error(SKULK_E_INVALID, "options: n_batch_max and n_seq_max must be positive");
    if (o->size < sizeof(skulk_compute_options)) return e;
    // extra_json: {"n_threads": N} may override; unknown keys are refused so a
    // typo does not silently do nothing.
    const std::string_view extra = skulk::view(o->extra_json);
    if (!extra.empty()) {
        nlohmann::json j = nlohmann::json::parse(extra, nullptr, false);
        if (j.is_discarded() || !j.is_object()) throw status_error(SKULK_E_INVALID, "options: extra_json is not a JSON object");
        for (const auto &[k, v] : j.items()) {
            if (k == "n_threads" && v.is_number_unsigned()) e.n_threads = v.get<unsigned>();
            else throw status_error(SKULK_E_INVALID, "options: extra_json key '" + k + "' is unknown or has the wrong type");
        }
    }
    return e;
}

skulk_status create(const skulk_model_params *model, uint32_t first_layer, uint32_t last_layer, uint32_t range_flags,
                    const skulk_tensor *tensors, size_t n_tensors, const skulk_compute_options *options, skulk_compute_instance **instance,
                    skulk_sink *error) {
    return skulk::guard(error, [&] {
        if (!model || !instance) throw status_error(SKULK_E_INVALID, "create: model params and instance are required");
        if (model->size < offsetof(skulk_model_params, rope_scaling))
            throw status_error(SKULK_E_INVALID, "create: model params struct too small");
        if (n_tensors && !tensors) throw status_error(SKULK_E_INVALID, "create: tensors is NULL");
        *instance = nullptr;
        const EngineOptions opts = parse_options(options, model);
        auto m = std::make_unique<LlamaModel>(*model, first_layer, last_layer, range_flags,
                                              std::span<const skulk_tensor>(tensors, n_tensors), opts);
        host_log(SKULK_LOG_INFO, "cpu_blas: layers [" + std::to_string(first_layer) + ", " + std::to_string(last_layer) +
                                     "], " + std::to_string(m->n_threads()) + " threads, isa " + skulk::cpu::isa_name() +
                                     ", n_ctx " + std::to_string(opts.n_ctx) + ", kv " + std::to_string(m->kv_bytes()) + " bytes");
        *instance = skulk::to_handle<skulk_compute_instance>(m.release());
    });
}

skulk_status forward(skulk_compute_instance *instance, const skulk_batch *batch, float *out, size_t out_cap) {
    skulk::string_sink err;
    const skulk_status st = skulk::guard(err.get(), [&] {
        if (!instance || !batch || !out) throw status_error(SKULK_E_INVALID, "forward: instance, batch and out are required");
        skulk::from_handle<LlamaModel>(instance)->forward(*batch, out, out_cap);
    });
    if (st != SKULK_OK) host_log(SKULK_LOG_WARN, "cpu_blas forward: " + err.text);
    return st;
}

skulk_status seq_drop(skulk_compute_instance *instance, uint32_t seq_id, int32_t p0, int32_t p1) {
    return skulk::guard(nullptr, [&] {
        if (!instance) throw status_error(SKULK_E_INVALID, "seq_drop: no instance");
        auto &kv = skulk::from_handle<LlamaModel>(instance)->kv();
        if (seq_id >= static_cast<uint32_t>(kv.n_seq())) throw status_error(SKULK_E_INVALID, "seq_drop: seq_id out of range");
        kv.drop(seq_id, p0, p1);
    });
}

skulk_status seq_copy(skulk_compute_instance *instance, uint32_t src, uint32_t dst, int32_t p1) {
    return skulk::guard(nullptr, [&] {
        if (!instance) throw status_error(SKULK_E_INVALID, "seq_copy: no instance");
        auto &kv = skulk::from_handle<LlamaModel>(instance)->kv();
        if (src >= static_cast<uint32_t>(kv.n_seq()) || dst >= static_cast<uint32_t>(kv.n_seq()))
            throw status_error(SKULK_E_INVALID, "seq_copy: seq_id out of range");
        kv.copy(src, dst, p1);
    });
}

skulk_status memory(skulk_compute_instance *instance, skulk_sink *report_json) {
    return skulk::guard(nullptr, [&] {
        if (!instance) throw status_error(SKULK_E_INVALID, "memory: no instance");
        const auto *m = skulk::from_handle<LlamaModel>(instance);
        const nlohmann::json j = {{"weights_bytes", m->weights_bytes()},
                                  {"kv_bytes", m->kv_bytes()},
                                  {"scratch_bytes", m->scratch_bytes()}};
        if (!skulk::write(report_json, j.dump())) throw status_error(SKULK_E_CANCELLED, "memory: sink refused");
    });
}

void destroy(skulk_compute_instance *instance) { delete skulk::from_handle<LlamaModel>(instance); }

const skulk_compute_v1 kVtable = {sizeof(skulk_compute_v1), create, forward, seq_drop, seq_copy, memory, destroy};

} // namespace

SKULK_PLUGIN_EXPORT skulk_status skulk_plugin_negotiate(const skulk_host_api *host, uint32_t host_major_min,
                                                        uint32_t host_major_max, skulk_plugin_info *out) {
    skulk_plugin_info mine{};
    mine.size = sizeof mine;
    mine.abi_major = SKULK_ABI_MAJOR;
    mine.abi_minor = 0;
    mine.kind = SKULK_KIND_COMPUTE;
    mine.name = skulk::to_str("cpu_blas");
    mine.version = skulk::to_str(kVersion);
    mine.score = score;
    mine.backend_tags = backend_tags;
    mine.vtable = &kVtable;
    mine.shutdown = nullptr;
    const skulk_status st = skulk::answer(host_major_min, host_major_max, out, mine);
    if (st == SKULK_OK) g_host = host;
    return st;
}
