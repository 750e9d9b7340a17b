#include "telemetry/gather.hpp"

#include "plugin/registry.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <sys/statvfs.h>
#include <thread>

namespace skulk::telemetry {
namespace {

std::string slurp(const char *path) {
    std::ifstream in(path);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

bool parse_u64(const std::string &s, uint64_t &out) {
    if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos || s.size() > 19) return false;
    out = std::stoull(s);
    return true;
}

std::string env(const char *name, bool &set) {
    const char *v = std::getenv(name);
    set = v != nullptr;
    return v ? v : "";
}

std::string cpu_model() {
    std::istringstream in(slurp("/proc/cpuinfo"));
    for (std::string line; std::getline(in, line);)
        if (line.rfind("model name", 0) == 0)
            if (auto colon = line.find(':'); colon != std::string::npos) {
                auto v = line.substr(colon + 1);
                v.erase(0, v.find_first_not_of(' '));
                return v;
            }
    return "";
}

} // namespace

bool parse_meminfo(const std::string &text, uint64_t &total, uint64_t &available) {
    bool have_total = false, have_avail = false;
    std::istringstream in(text);
    for (std::string key; in >> key;) {
        uint64_t kb = 0;
        std::string unit;
        if (!(in >> kb)) break;
        std::getline(in, unit);
        if (key == "MemTotal:") { total = kb * 1024; have_total = true; }
        else if (key == "MemAvailable:") { available = kb * 1024; have_avail = true; }
    }
    return have_total && have_avail;
}

bool parse_backend_list(const std::string &text, std::vector<BackendOffer> &out, std::string &error) {
    out.clear();
    std::istringstream in(text);
    for (std::string item; std::getline(in, item, ',');) {
        item.erase(0, item.find_first_not_of(' '));
        item.erase(item.find_last_not_of(' ') + 1);
        if (item.empty()) continue;
        BackendOffer b;
        const auto colon = item.find(':');
        b.tag = item.substr(0, colon);
        if (b.tag.empty()) { error = "empty backend tag in \"" + text + "\""; return false; }
        if (colon != std::string::npos) {
            const std::string score = item.substr(colon + 1);
            try {
                size_t used = 0;
                b.score = std::stoi(score, &used);
                if (used != score.size()) throw std::invalid_argument("trailing");
            } catch (const std::exception &) {
                error = "score of backend " + b.tag + " must be an integer, got \"" + score + "\"";
                return false;
            }
        }
        out.push_back(std::move(b));
    }
    return true;
}

std::string read_overrides(Overrides &o) {
    bool set = false;
    for (auto [name, slot] : {std::pair{"SKULK_TELEMETRY_RAM_TOTAL_BYTES", &o.ram_total},
                              std::pair{"SKULK_TELEMETRY_RAM_AVAILABLE_BYTES", &o.ram_available}}) {
        const std::string v = env(name, set);
        if (!set) continue;
        uint64_t n = 0;
        if (!parse_u64(v, n)) return std::string(name) + " must be a byte count (digits only), got \"" + v + "\"";
        *slot = n;
    }
    const std::string list = env("SKULK_TELEMETRY_BACKENDS", set);
    if (set) {
        std::vector<BackendOffer> offers;
        std::string error;
        if (!parse_backend_list(list, offers, error)) return "SKULK_TELEMETRY_BACKENDS: " + error;
        o.backends = std::move(offers);
    }
    const std::string off = env("SKULK_TEST_TELEMETRY_DISABLED", set);
    if (set && off != "0" && off != "1") return "SKULK_TEST_TELEMETRY_DISABLED must be 0 or 1, got \"" + off + "\"";
    o.disabled = off == "1";
    return "";
}

std::vector<BackendOffer> backend_offers(const plugin::Registry &registry) {
    std::vector<BackendOffer> out;
    for (const auto &r : registry.records()) {
        if (!r.usable) continue;
        for (const auto &tag : r.backend_tags) {
            auto it = std::find_if(out.begin(), out.end(), [&](const BackendOffer &b) { return b.tag == tag; });
            if (it == out.end()) out.push_back(BackendOffer{tag, r.score});
            else it->score = std::max(it->score, r.score);
        }
    }
    return out;
}

Reading gather(const std::filesystem::path &data_dir, const std::vector<BackendOffer> &backends, const Overrides &o) {
    Reading r;
    parse_meminfo(slurp("/proc/meminfo"), r.ram_total, r.ram_available);
    if (o.ram_total) r.ram_total = *o.ram_total;
    if (o.ram_available) r.ram_available = *o.ram_available;
    struct statvfs fs{};
    if (::statvfs(data_dir.c_str(), &fs) == 0) {
        r.disk_total = uint64_t(fs.f_blocks) * fs.f_frsize;
        r.disk_available = uint64_t(fs.f_bavail) * fs.f_frsize;
    }
    r.cpu_cores = std::thread::hardware_concurrency();
    static const std::string model = cpu_model(); // does not change while we run
    r.cpu_model = model;
    r.backends = o.backends ? *o.backends : backends;
    return r;
}

} // namespace skulk::telemetry
