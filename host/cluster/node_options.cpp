// SKULK_* environment overrides of the cluster settings (documented in
// node.hpp and docs/architecture.md, "Cluster").
#include "cluster/node.hpp"

#include <cstdlib>
#include <stdexcept>

namespace skulk::cluster {
namespace {

std::string env_str(const char *name) {
    const char *v = std::getenv(name);
    return v ? v : "";
}

} // namespace

std::string apply_env_overrides(NodeOptions &o) {
    auto number = [](const char *name, long long lo, long long hi, long long &out) -> std::string {
        const std::string v = env_str(name);
        if (v.empty()) return "";
        try {
            size_t used = 0;
            const long long n = std::stoll(v, &used);
            if (used != v.size() || n < lo || n > hi) throw std::out_of_range("range");
            out = n;
            return "";
        } catch (const std::exception &) {
            return std::string(name) + " must be an integer in " + std::to_string(lo) + ".." + std::to_string(hi) +
                   ", got \"" + v + "\"";
        }
    };
    long long n = -1;
    if (auto e = number("SKULK_NODE_TIMEOUT_SECONDS", 1, 86400, n); !e.empty()) return e;
    if (n > 0) o.node_timeout = std::chrono::seconds(n);
    n = -1;
    if (auto e = number("SKULK_TOPOLOGY_SETTLE_GRACE_SECONDS", 0, 86400, n); !e.empty()) return e;
    if (n >= 0) o.settle_grace = std::chrono::seconds(n);
    n = -1;
    if (auto e = number("SKULK_PEER_TIMEOUT_MS", 200, 600000, n); !e.empty()) return e;
    if (n > 0) o.peer_timeout = std::chrono::milliseconds(n);
    n = -1;
    if (auto e = number("SKULK_BEACON_PORT", 1, 65535, n); !e.empty()) return e;
    if (n > 0) o.beacon_port = uint16_t(n);
    n = -1;
    if (auto e = number("SKULK_EVENTLOG_MIN_FREE_BYTES", 0, (1ll << 62), n); !e.empty()) return e;
    if (n >= 0) o.eventlog_min_free_bytes = uint64_t(n);
    n = -1;
    if (auto e = number("SKULK_TEST_DROP_EVERY_NTH_EVENT", 0, 1000000, n); !e.empty()) return e;
    if (n >= 0) o.test_drop_every_nth_event = uint32_t(n);
    if (env_str("SKULK_TEST_NO_STATE_LISTENERS") == "1") o.test_mute_listeners = true;
    const std::string g = env_str("SKULK_EVENTLOG_ACCEPT_GAP");
    if (g == "1") o.eventlog_accept_gap = true;
    else if (!g.empty() && g != "0") return "SKULK_EVENTLOG_ACCEPT_GAP must be 0 or 1, got \"" + g + "\"";
    const std::string b = env_str("SKULK_BEACONS");
    if (b == "0" || b == "false" || b == "off") o.beacons = false;
    else if (!b.empty() && b != "1" && b != "true" && b != "on") return "SKULK_BEACONS must be 0 or 1, got \"" + b + "\"";
    return "";
}

} // namespace skulk::cluster
