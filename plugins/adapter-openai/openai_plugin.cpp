// The "openai" protocol adapter plugin: POST /v1/chat/completions and
// POST /v1/completions, OpenAI wire <-> the host's canonical JSON.
// Stateless apart from the per-response EncodeState, so decode/encode are
// safe to call from any number of threads at once (abi.h's rule).
#include "openai_decode.hpp"
#include "openai_encode.hpp"

#include "skulk/plugin.hpp"

#include <string>

namespace {

constexpr std::string_view kRoutes =
    R"([{"method":"POST","path":"/v1/chat/completions"},{"method":"POST","path":"/v1/completions"}])";

skulk_status decode(skulk_str method, skulk_str path, skulk_str body, skulk_sink *canonical, skulk_sink *error) {
    return skulk::guard(error, [&] {
        const std::string out = skulk::openai::decode_request(skulk::view(method), skulk::view(path), skulk::view(body));
        if (!skulk::write(canonical, out)) throw skulk::status_error(SKULK_E_CANCELLED, "the host stopped the output");
    });
}

skulk_status encode(skulk_adapter_state **state, skulk_str event, skulk_sink *wire) {
    if (!state) return SKULK_E_INVALID;
    // The ABI gives encode no error sink: a bad event is a status only.
    return skulk::guard(nullptr, [&] {
        if (!*state) *state = skulk::to_handle<skulk_adapter_state>(new skulk::openai::EncodeState());
        auto *st = skulk::from_handle<skulk::openai::EncodeState>(*state);
        // Reused per thread: writing a token's chunk allocates nothing once grown.
        thread_local std::string out;
        out.clear();
        st->encode(skulk::view(event), out);
        if (!out.empty() && !skulk::write(wire, out))
            throw skulk::status_error(SKULK_E_CANCELLED, "the client went away");
    });
}

void free_state(skulk_adapter_state *state) { delete skulk::from_handle<skulk::openai::EncodeState>(state); }

int32_t score() { return 1; }
skulk_str backend_tags() { return skulk::to_str("[]"); }

const skulk_adapter_v1 kVtable = {sizeof(skulk_adapter_v1), {kRoutes.data(), kRoutes.size()}, decode, encode, free_state};

} // namespace

SKULK_PLUGIN_EXPORT skulk_status skulk_plugin_negotiate(const skulk_host_api *host, uint32_t host_major_min,
                                                        uint32_t host_major_max, skulk_plugin_info *out) {
    (void)host;
    skulk_plugin_info mine{};
    mine.size = sizeof(skulk_plugin_info);
    mine.abi_major = SKULK_ABI_MAJOR;
    mine.abi_minor = 0;
    mine.kind = SKULK_KIND_ADAPTER;
    mine.name = skulk::to_str("openai");
    mine.version = skulk::to_str("0.1.0");
    mine.score = score;
    mine.backend_tags = backend_tags;
    mine.vtable = &kVtable;
    mine.shutdown = nullptr;
    return skulk::answer(host_major_min, host_major_max, out, mine);
}
