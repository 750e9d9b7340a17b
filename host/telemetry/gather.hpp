// Reads this node's resources for the telemetry topic: /proc/meminfo,
// statvfs of the data dir, the CPU, and the backend tags of the usable
// plugins. Operator/test overrides come from the environment (see
// docs/operations.md "Telemetry overrides").
#pragma once

#include "telemetry/reading.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace skulk::plugin { class Registry; }

namespace skulk::telemetry {

// Environment overrides, parsed once at start.
struct Overrides {
    std::optional<uint64_t> ram_total;                     // SKULK_TELEMETRY_RAM_TOTAL_BYTES
    std::optional<uint64_t> ram_available;                 // SKULK_TELEMETRY_RAM_AVAILABLE_BYTES
    std::optional<std::vector<BackendOffer>> backends;     // SKULK_TELEMETRY_BACKENDS="tag[:score],..." ("" = none)
    bool disabled = false;                                 // SKULK_TEST_TELEMETRY_DISABLED=1: never publish
};
// "" or an error naming the variable.
std::string read_overrides(Overrides &out);

// "tag[:score],tag[:score]" -> offers; false with `error` on a malformed list.
bool parse_backend_list(const std::string &text, std::vector<BackendOffer> &out, std::string &error);

// The usable plugins' backend tags with their plugin's score (the best score
// where two plugins offer one tag), in scan order.
std::vector<BackendOffer> backend_offers(const plugin::Registry &registry);

// One reading. `backends` are the registry's offers; the overrides win.
Reading gather(const std::filesystem::path &data_dir, const std::vector<BackendOffer> &backends, const Overrides &o);

// MemTotal / MemAvailable in bytes from a /proc/meminfo text; false when
// either is missing.
bool parse_meminfo(const std::string &text, uint64_t &total, uint64_t &available);

} // namespace skulk::telemetry
