// libFuzzer target: arbitrary bytes as the body of an OpenAI request, for
// both routes the adapter serves (the first byte picks the route), through
// the adapter's decode_request. Only status_error (SKULK_E_INVALID: a 400
// for the client) may come out; anything else, a crash, a hang or a
// sanitizer report is a bug. What it returns must be JSON the host parses.
#include "plugins/adapter-openai/openai_decode.hpp"
#include "skulk/plugin.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    const char *path = data[0] & 1 ? "/v1/completions" : "/v1/chat/completions";
    const std::string_view body(reinterpret_cast<const char *>(data) + 1, size - 1);
    try {
        const std::string canonical = skulk::openai::decode_request("POST", path, body);
        const auto j = nlohmann::json::parse(canonical); // throws (= a crash report) when not JSON
        if (!j.is_object()) std::abort();
    } catch (const skulk::status_error &e) {
        if (e.status != SKULK_E_INVALID) std::abort(); // every bad body is the client's fault: 400
    }
    return 0;
}
