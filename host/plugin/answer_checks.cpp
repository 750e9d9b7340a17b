#include "plugin/answer_checks.hpp"

#include "plugin/registry.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <cstring>

namespace skulk::plugin {
namespace {

struct Slot {
    const char *name;
    size_t offset;
};

// The slots a host cannot work without, per kind. Optional slots
// (compute.seq_copy, compute.memory) may be NULL or lie past `size`.
std::vector<Slot> required_slots(uint32_t kind) {
    switch (kind) {
    case SKULK_KIND_COMPUTE:
        return {{"create", offsetof(skulk_compute_v1, create)},
                {"forward", offsetof(skulk_compute_v1, forward)},
                {"seq_drop", offsetof(skulk_compute_v1, seq_drop)},
                {"destroy", offsetof(skulk_compute_v1, destroy)}};
    case SKULK_KIND_SERVED:
        return {{"create", offsetof(skulk_served_v1, create)},
                {"chat", offsetof(skulk_served_v1, chat)},
                {"destroy", offsetof(skulk_served_v1, destroy)}};
    case SKULK_KIND_ADAPTER:
        return {{"decode", offsetof(skulk_adapter_v1, decode)},
                {"encode", offsetof(skulk_adapter_v1, encode)},
                {"free_state", offsetof(skulk_adapter_v1, free_state)}};
    default: return {};
    }
}

std::string check_routes(const skulk_adapter_v1 &adapter) {
    const std::string_view text(adapter.routes_json.ptr ? adapter.routes_json.ptr : "", adapter.routes_json.len);
    const auto routes = nlohmann::json::parse(text, nullptr, false);
    if (routes.is_discarded() || !routes.is_array() || routes.empty())
        return "adapter routes_json is not a non-empty JSON array: '" + std::string(text.substr(0, 80)) + "'";
    for (const auto &r : routes)
        if (!r.is_object() || !r.contains("method") || !r["method"].is_string() || !r.contains("path") ||
            !r["path"].is_string())
            return "adapter routes_json entry " + r.dump() + " is not {\"method\":string,\"path\":string}";
    return {};
}

} // namespace

std::string status_name(int status) {
    switch (status) {
    case SKULK_OK: return "SKULK_OK (0)";
    case SKULK_E_INVALID: return "SKULK_E_INVALID (1)";
    case SKULK_E_UNSUPPORTED: return "SKULK_E_UNSUPPORTED (2)";
    case SKULK_E_NOMEM: return "SKULK_E_NOMEM (3)";
    case SKULK_E_UPSTREAM: return "SKULK_E_UPSTREAM (4)";
    case SKULK_E_CANCELLED: return "SKULK_E_CANCELLED (5)";
    case SKULK_E_INTERNAL: return "SKULK_E_INTERNAL (6)";
    case SKULK_E_VERSION: return "SKULK_E_VERSION (7)";
    default: return "status " + std::to_string(status);
    }
}

std::string check_answer(const skulk_plugin_info &info) {
    if (info.abi_major < kHostMajorMin || info.abi_major > kHostMajorMax)
        return fmt::format("implements ABI major {}, but this host accepts majors {}..{}", info.abi_major,
                           kHostMajorMin, kHostMajorMax);
    if (info.abi_minor > SKULK_ABI_MINOR)
        return fmt::format("needs ABI minor {}.{}, but this host implements {}.{}", info.abi_major, info.abi_minor,
                           SKULK_ABI_MAJOR, SKULK_ABI_MINOR);
    if (info.kind < SKULK_KIND_COMPUTE || info.kind > SKULK_KIND_ADAPTER)
        return fmt::format("unknown plugin kind {} (known: 1 compute, 2 served, 3 adapter)", info.kind);
    if (!info.name.ptr || info.name.len == 0) return "empty plugin name";
    return {};
}

std::string check_vtable(uint32_t kind, const void *vtable) {
    if (!vtable) return fmt::format("NULL vtable for a {} plugin", kind_name(kind));
    uint32_t size = 0;
    std::memcpy(&size, vtable, sizeof size);
    const auto slots = required_slots(kind);
    size_t needed = 0;
    for (const auto &s : slots) needed = std::max(needed, s.offset + sizeof(void (*)()));
    if (size < needed)
        return fmt::format("{} vtable size {} is smaller than the {} bytes its required slots need", kind_name(kind),
                           size, needed);
    for (const auto &s : slots) {
        void (*fn)() = nullptr;
        std::memcpy(&fn, static_cast<const char *>(vtable) + s.offset, sizeof fn);
        if (!fn) return fmt::format("{} vtable slot {} is NULL", kind_name(kind), s.name);
    }
    if (kind == SKULK_KIND_ADAPTER) return check_routes(*static_cast<const skulk_adapter_v1 *>(vtable));
    return {};
}

std::string parse_backend_tags(std::string_view json, std::vector<std::string> &tags) {
    tags.clear();
    const auto parsed = nlohmann::json::parse(json, nullptr, false);
    const std::string shown(json.substr(0, 80));
    if (parsed.is_discarded()) return "backend_tags() is not valid JSON: '" + shown + "'";
    if (!parsed.is_array()) return "backend_tags() is not a JSON array of strings: '" + shown + "'";
    for (const auto &t : parsed) {
        if (!t.is_string() || t.get_ref<const std::string &>().empty())
            return "backend_tags() is not a JSON array of non-empty strings: element " + t.dump();
        tags.push_back(t.get<std::string>());
    }
    return {};
}

} // namespace skulk::plugin
