// One node's resource reading, as published on the cluster's telemetry topic
// (last write wins; never part of the event log). Plain data: the gathering
// is gather.hpp, the wire form is cluster/wire.cpp, the JSON view of /state
// is api/placement_routes.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace skulk::telemetry {

// A backend tag ("<engine>-<compute>") one of the node's usable plugins
// offers, with that plugin's score (higher is better).
struct BackendOffer {
    std::string tag;
    int32_t score = 0;
    bool operator==(const BackendOffer &) const = default;
};

struct Reading {
    uint64_t ram_total = 0;      // bytes (/proc/meminfo MemTotal)
    uint64_t ram_available = 0;  // bytes (/proc/meminfo MemAvailable)
    uint64_t disk_total = 0;     // bytes of the file system holding the data dir
    uint64_t disk_available = 0; // bytes an unprivileged writer may still use there
    uint32_t cpu_cores = 0;
    std::string cpu_model;
    std::vector<BackendOffer> backends;
    // Only where an engine reports a discrete GPU's memory; absent otherwise.
    std::optional<uint64_t> gpu_memory_total;
    std::optional<uint64_t> gpu_memory_available;
    bool operator==(const Reading &) const = default;
};

} // namespace skulk::telemetry
