// Checks of what a plugin answered during negotiation. Each returns the
// reason for refusal, or an empty string when the answer is acceptable.
// Pure functions over ABI structs: shared by the probe child and the daemon.
#pragma once

#include "skulk/abi.h"

#include <string>
#include <string_view>
#include <vector>

namespace skulk::plugin {

// The ABI majors this host offers: [kHostMajorMin, kHostMajorMax].
inline constexpr uint32_t kHostMajorMin = 1;
inline constexpr uint32_t kHostMajorMax = 1;

// "SKULK_E_VERSION (7)"; unknown numbers as "status 42".
std::string status_name(int status);

// The fixed part of the answer: ABI major/minor, kind, name.
std::string check_answer(const skulk_plugin_info &info);

// The vtable of the answered kind: not NULL, `size` covering every required
// slot, no required slot NULL (and, for adapters, routes_json well formed).
std::string check_vtable(uint32_t kind, const void *vtable);

// backend_tags() must answer a JSON array of non-empty strings.
std::string parse_backend_tags(std::string_view json, std::vector<std::string> &tags);

} // namespace skulk::plugin
