/*
 * skulk/abi.h: the one C ABI between skulk-host and its plugins.
 *
 * Pure C11. A plugin is a shared object exporting exactly one symbol,
 * skulk_plugin_negotiate (SKULK_PLUGIN_ENTRY_SYMBOL). Everything else it
 * offers is reached through the structs below.
 *
 * Versioning (modelled on the Vulkan loader/ICD negotiation):
 *   - The host offers a range of ABI majors [host_major_min, host_major_max].
 *     The plugin answers with the major it implements; a major outside the
 *     offer is refused.
 *   - The plugin answers with the smallest MINOR it needs. The host refuses a
 *     plugin that needs a newer minor than the host implements.
 *   - Every struct and vtable begins with `uint32_t size` (its sizeof as the
 *     writer compiled it) and is append-only after release: new fields and
 *     slots only ever go at the end, under a new minor. A reader treats a
 *     field past `size`, or a NULL function slot, as absent.
 *
 * Status codes (skulk_status) are frozen integers: never renumbered.
 * Nothing throws across this boundary; C++ plugins catch at the edge
 * (see skulk/plugin.hpp).
 *
 * Ownership:
 *   - What the host allocates, the host frees: tensor descriptors and the
 *     tensor bytes they point into (the host's mmap of the GGUF), batches,
 *     output buffers, sinks, strings passed in. They are BORROWED for the
 *     duration of the call unless a rule below says otherwise.
 *   - Tensors passed to compute.create stay valid until compute.destroy of
 *     that instance returns: an engine may keep pointers to them (zero-copy).
 *   - What a plugin allocates (instances, adapter states), the plugin frees,
 *     through the matching destroy/free slot, which the host always calls.
 *   - Strings returned by the plugin from plugin_info fields or from
 *     backend_tags() point to static storage inside the plugin and stay valid
 *     until the library is unloaded (after shutdown()).
 *
 * Handles: what one side makes and the other only passes back is an
 * opaque, typed pointer (skulk_host_ctx, skulk_compute_instance,
 * skulk_served_instance, skulk_adapter_state), as ggml's backend handles and
 * mosquitto's plugin id are: the compiler then refuses an adapter state
 * passed where an engine instance belongs. Only the owner knows what a
 * handle points to; a C++ plugin converts with skulk::from_handle /
 * skulk::to_handle (skulk/plugin.hpp). Sink and stream `ctx` stay `void *`:
 * they are callback contexts, owned and read by the same side.
 *
 * Extensions: a plugin may offer functions beyond its kind's vtable through
 * skulk_plugin_info.get_proc_address (minor 1), as Vulkan's
 * vkGetInstanceProcAddr does. Names are "<plugin name>.<function>"; the
 * plugin's own documentation gives each one's signature. An unknown name
 * answers NULL. An extension never replaces a vtable slot: what every plugin
 * of a kind must do goes into the vtable under a new minor.
 *
 * Threads: the host may call forward/seq_* of one compute instance from one
 * thread at a time; different instances may be used from different threads.
 * Adapter decode/encode must be callable from any thread concurrently.
 */
#ifndef SKULK_ABI_H
#define SKULK_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SKULK_ABI_MAJOR 1 /* a breaking change: the host refuses other majors */
#define SKULK_ABI_MINOR 1 /* fields and slots appended at the end             */
/* Minor history:
 *   0  the first release.
 *   1  typed opaque handles (source-level only: every handle is still one
 *      pointer, so 1.0 plugins load unchanged); skulk_plugin_info gains
 *      get_proc_address (plugin-specific extensions by name). */

#define SKULK_PLUGIN_ENTRY_SYMBOL "skulk_plugin_negotiate"

/* Frozen: never renumber, only append. */
typedef enum skulk_status {
    SKULK_OK = 0,
    SKULK_E_INVALID = 1,     /* bad argument or input (an HTTP 4xx upstream) */
    SKULK_E_UNSUPPORTED = 2, /* valid, but this plugin cannot do it          */
    SKULK_E_NOMEM = 3,       /* out of memory (host RAM or device memory)    */
    SKULK_E_UPSTREAM = 4,    /* an external dependency failed                */
    SKULK_E_CANCELLED = 5,   /* the host asked to stop                       */
    SKULK_E_INTERNAL = 6,    /* a bug or an unexpected exception             */
    SKULK_E_VERSION = 7      /* no ABI version both sides accept             */
} skulk_status;

/* Frozen plugin kinds. */
typedef enum skulk_plugin_kind {
    SKULK_KIND_COMPUTE = 1, /* runs transformer layers on host tensors */
    SKULK_KIND_SERVED = 2,  /* serves whole chat requests itself       */
    SKULK_KIND_ADAPTER = 3  /* translates a foreign HTTP protocol      */
} skulk_plugin_kind;

/* Frozen log levels (same order as spdlog). */
typedef enum skulk_log_level {
    SKULK_LOG_TRACE = 0,
    SKULK_LOG_DEBUG = 1,
    SKULK_LOG_INFO = 2,
    SKULK_LOG_WARN = 3,
    SKULK_LOG_ERROR = 4
} skulk_log_level;

/* Opaque handles (see "Handles" above). */
typedef struct skulk_host_ctx skulk_host_ctx;                 /* the host's, per library */
typedef struct skulk_compute_instance skulk_compute_instance; /* a compute plugin's       */
typedef struct skulk_served_instance skulk_served_instance;   /* a served plugin's        */
typedef struct skulk_adapter_state skulk_adapter_state;       /* an adapter's, per response */

/* Any function, as get_proc_address returns it: the caller casts it to the
 * extension's documented signature. */
typedef void (*skulk_proc)(void);

/* A borrowed UTF-8 string: not NUL-terminated unless stated. */
typedef struct skulk_str {
    const char *ptr;
    size_t len;
} skulk_str;

/* Host-owned output: the plugin calls write() any number of times; the
 * bytes are appended. write returns 0 on success, non-zero when the host
 * wants the plugin to stop (the plugin then returns SKULK_E_CANCELLED). */
typedef struct skulk_sink {
    void *ctx;
    int (*write)(void *ctx, const void *bytes, size_t n);
} skulk_sink;

/* Services the host lends to every plugin for the library's lifetime. */
typedef struct skulk_host_api {
    uint32_t size;
    uint32_t abi_minor; /* the minor the host implements */
    skulk_host_ctx *host;
    void (*log)(skulk_host_ctx *host, int level, skulk_str msg);
    /* non-zero once the request has been cancelled by the client or host */
    int (*cancelled)(skulk_host_ctx *host, uint64_t request_id);
} skulk_host_api;

/* ---------------------------------------------------------------- compute */

/* GGUF tensor type ids (ggml_type numbering, as stored in GGUF files). */
typedef enum skulk_gguf_type {
    SKULK_TYPE_F32 = 0,
    SKULK_TYPE_F16 = 1,
    SKULK_TYPE_Q4_0 = 2,
    SKULK_TYPE_Q4_1 = 3,
    SKULK_TYPE_Q5_0 = 6,
    SKULK_TYPE_Q5_1 = 7,
    SKULK_TYPE_Q8_0 = 8,
    SKULK_TYPE_Q8_1 = 9,
    SKULK_TYPE_Q2_K = 10,
    SKULK_TYPE_Q3_K = 11,
    SKULK_TYPE_Q4_K = 12,
    SKULK_TYPE_Q5_K = 13,
    SKULK_TYPE_Q6_K = 14,
    SKULK_TYPE_Q8_K = 15,
    SKULK_TYPE_BF16 = 30
} skulk_gguf_type;

/* One tensor inside the host's mapping of a GGUF file. ne[0] is the
 * innermost (contiguous) dimension, as in GGUF; nb[i] are byte strides. */
typedef struct skulk_tensor {
    uint32_t size;
    uint32_t gguf_type; /* skulk_gguf_type */
    skulk_str name;     /* the GGUF name, e.g. "blk.3.attn_q.weight" */
    int32_t layer;      /* block index, or -1 for global tensors     */
    uint32_t n_dims;
    int64_t ne[4];
    uint64_t nb[4];
    const void *data; /* valid until the instance is destroyed */
    uint64_t nbytes;
} skulk_tensor;

/* Rotary embedding layouts. */
typedef enum skulk_rope_type {
    SKULK_ROPE_NORMAL = 0, /* rotate interleaved pairs (x0,x1),(x2,x3)... */
    SKULK_ROPE_NEOX = 2    /* rotate split halves (x0,x_{d/2}),...         */
} skulk_rope_type;

typedef enum skulk_rope_scaling {
    SKULK_ROPE_SCALING_NONE = 0,
    SKULK_ROPE_SCALING_LINEAR = 1,
    SKULK_ROPE_SCALING_YARN = 2,
    SKULK_ROPE_SCALING_LLAMA3 = 3
} skulk_rope_scaling;

/* The hyper-parameters of a model, read by the host from GGUF metadata.
 * Names follow the GGUF keys. */
typedef struct skulk_model_params {
    uint32_t size;
    skulk_str arch; /* "llama", "qwen2", "qwen3", ... */
    uint32_t n_layer;
    uint32_t n_embd;
    uint32_t n_head;
    uint32_t n_head_kv;
    uint32_t head_dim_k; /* attention.key_length   (n_embd / n_head default) */
    uint32_t head_dim_v; /* attention.value_length                           */
    uint32_t n_ff;
    uint32_t n_vocab;
    uint32_t n_ctx_train;
    float rms_eps;
    uint32_t rope_type; /* skulk_rope_type */
    uint32_t n_rot;     /* rope.dimension_count (head_dim_k default) */
    float rope_freq_base;
    float rope_freq_scale; /* 1 / rope.scaling.factor for linear scaling */
    uint32_t rope_scaling; /* skulk_rope_scaling */
    float rope_scaling_factor;
    uint32_t rope_scaling_orig_ctx;
    float rope_yarn_ext_factor;
    float rope_yarn_attn_factor;
    float rope_yarn_beta_fast;
    float rope_yarn_beta_slow;
    float rope_llama3_low_freq_factor;
    float rope_llama3_high_freq_factor;
} skulk_model_params;

/* Options the host chooses for one compute instance. */
typedef enum skulk_kv_type {
    SKULK_KV_F16 = 0,
    SKULK_KV_F32 = 1,
    SKULK_KV_BF16 = 2
} skulk_kv_type;

typedef struct skulk_compute_options {
    uint32_t size;
    uint32_t n_threads; /* 0: all cores */
    uint32_t n_ctx;     /* KV positions per sequence */
    uint32_t n_seq_max; /* sequence ids are 0 .. n_seq_max-1 */
    uint32_t n_batch_max; /* most tokens one forward() will carry */
    uint32_t kv_type;     /* skulk_kv_type */
    skulk_str extra_json; /* engine-specific options, may be empty */
} skulk_compute_options;

/* The range of layers one instance runs, and whether it owns the ends. */
enum {
    SKULK_RANGE_EMBED = 1u, /* first range: token ids in, embedding lookup   */
    SKULK_RANGE_HEAD = 2u   /* last range: final norm + output projection    */
};

/* A batch of tokens from many sequences, evaluated in one forward. */
typedef struct skulk_batch {
    uint32_t size;
    uint32_t n_tokens;
    const int32_t *token;       /* EMBED range: token ids; else NULL          */
    const float *embd;          /* other ranges: n_tokens x n_embd hidden in  */
    const int32_t *pos;         /* position of each token in its sequence     */
    const uint32_t *seq_id;     /* sequence of each token, < n_seq_max        */
    const uint8_t *want_output; /* HEAD range: rows whose logits are wanted   */
} skulk_batch;

/* Compute engine: runs layers [first, last] (inclusive) of one model.
 * forward() output, written into the host's buffer `out` (out_cap floats):
 *   - HEAD range: n_vocab logits for each row with want_output[i] != 0, in
 *     batch order (want_output NULL: every row);
 *   - otherwise: n_embd hidden-state floats for every row. */
typedef struct skulk_compute_v1 {
    uint32_t size;
    skulk_status (*create)(const skulk_model_params *model, uint32_t first_layer,
                           uint32_t last_layer, uint32_t range_flags,
                           const skulk_tensor *tensors, size_t n_tensors,
                           const skulk_compute_options *options,
                           skulk_compute_instance **instance, skulk_sink *error);
    skulk_status (*forward)(skulk_compute_instance *instance, const skulk_batch *batch, float *out,
                            size_t out_cap);
    /* forget positions [p0, p1) of a sequence (p1 < 0: to the end) */
    skulk_status (*seq_drop)(skulk_compute_instance *instance, uint32_t seq_id, int32_t p0, int32_t p1);
    /* make dst share src's positions [0, p1) (prefix reuse) */
    skulk_status (*seq_copy)(skulk_compute_instance *instance, uint32_t src, uint32_t dst, int32_t p1);
    /* a JSON object: {"weights_bytes":..,"kv_bytes":..,"scratch_bytes":..} */
    skulk_status (*memory)(skulk_compute_instance *instance, skulk_sink *report_json);
    void (*destroy)(skulk_compute_instance *instance);
} skulk_compute_v1;

/* ----------------------------------------------------------------- served */

/* Streamed output of a served request. on_delta returns non-zero to stop. */
typedef struct skulk_stream {
    void *ctx;
    int (*on_delta)(void *ctx, skulk_str chunk_json);
    void (*on_done)(void *ctx, skulk_status status, skulk_str final_json);
} skulk_stream;

/* Served engine: takes whole canonical chat requests (docs/canonical-api.md)
 * and answers them itself, typically by driving an external server such as
 * llama.cpp's llama-server. Decided for minor 1: a served plugin is loaded
 * by skulk-runner exactly as a compute plugin is (one instance per placed
 * model, in a child process, so a crash or hang takes down a runner, never
 * the daemon); the host keeps placement, the HTTP dialects, cancellation and
 * metrics. config_json is the model card's settings plus the staged model
 * file paths, as a JSON object. chat() blocks until the request ends and
 * calls on_done exactly once; it is called from several threads at once,
 * one per concurrent request; cancellation is observed through
 * skulk_host_api.cancelled(request_id). */
typedef struct skulk_served_v1 {
    uint32_t size;
    skulk_status (*create)(skulk_str config_json, skulk_served_instance **instance, skulk_sink *error);
    skulk_status (*chat)(skulk_served_instance *instance, uint64_t request_id, skulk_str request_json,
                         const skulk_stream *stream);
    void (*destroy)(skulk_served_instance *instance);
} skulk_served_v1;

/* ---------------------------------------------------------------- adapter */

/* Protocol adapter: a foreign wire format <-> the host's canonical chat
 * request / event JSON. routes_json lists what it serves:
 *   [{"method":"POST","path":"/v1/chat/completions"}, ...]
 * decode() turns one HTTP request into a canonical request; on failure it
 * returns SKULK_E_INVALID and writes a human-readable reason to `error`.
 * encode() turns one canonical event into wire bytes; *state starts NULL for
 * each response and is released with free_state() when the response ends. */
typedef struct skulk_adapter_v1 {
    uint32_t size;
    skulk_str routes_json;
    skulk_status (*decode)(skulk_str method, skulk_str path, skulk_str body,
                           skulk_sink *canonical_request_json, skulk_sink *error);
    skulk_status (*encode)(skulk_adapter_state **state, skulk_str canonical_event_json, skulk_sink *wire);
    void (*free_state)(skulk_adapter_state *state);
} skulk_adapter_v1;

/* ------------------------------------------------------------ negotiation */

/* The host zero-fills this struct and sets `size` before the call; the
 * plugin writes only fields that fit within `size`. */
typedef struct skulk_plugin_info {
    uint32_t size;
    uint32_t abi_major; /* the major the plugin implements              */
    uint32_t abi_minor; /* the smallest minor of it the plugin needs    */
    uint32_t kind;      /* skulk_plugin_kind                             */
    skulk_str name;     /* e.g. "cpu_blas"                               */
    skulk_str version;  /* the plugin's own version, e.g. "0.1.0"        */
    /* 0: cannot run on this machine; higher: a better choice here */
    int32_t (*score)(void);
    /* JSON array of backend tags, "<engine>-<compute>": ["cpu_blas-cpu"] */
    skulk_str (*backend_tags)(void);
    /* skulk_compute_v1 / skulk_served_v1 / skulk_adapter_v1 by kind */
    const void *vtable;
    /* called once before the library is unloaded; may be NULL */
    void (*shutdown)(void);
    /* ---- minor 1 ---- */
    /* An extension by name ("<plugin name>.<function>"), NULL when the
     * plugin has none of that name. May itself be NULL (no extensions).
     * Must be callable from any thread, before and after create(). */
    skulk_proc (*get_proc_address)(const char *name);
} skulk_plugin_info;

/* The one exported symbol. `host` stays valid until shutdown() returns. */
typedef skulk_status (*skulk_plugin_negotiate_fn)(const skulk_host_api *host,
                                                  uint32_t host_major_min,
                                                  uint32_t host_major_max,
                                                  skulk_plugin_info *out);

#ifdef __cplusplus
}
#endif

#endif /* SKULK_ABI_H */
