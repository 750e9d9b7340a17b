#include "plugin/registry.hpp"

#include "common/paths.hpp"
#include "log/logging.hpp"
#include "plugin/library.hpp"
#include "plugin/probe.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <map>
#include <set>

namespace skulk::plugin {
namespace {

namespace fs = std::filesystem;

// Every regular file (or link to one) named *.so, sorted for a stable order.
std::vector<fs::path> candidates_in(const fs::path &dir, std::error_code &ec) {
    std::vector<fs::path> out;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        std::error_code fec;
        if (it->path().extension() == ".so" && fs::is_regular_file(it->path(), fec)) out.push_back(it->path());
    }
    std::sort(out.begin(), out.end());
    return out;
}

} // namespace

std::string kind_name(uint32_t kind) {
    switch (kind) {
    case SKULK_KIND_COMPUTE: return "compute";
    case SKULK_KIND_SERVED: return "served";
    case SKULK_KIND_ADAPTER: return "adapter";
    default: return "unknown(" + std::to_string(kind) + ")";
    }
}

std::vector<fs::path> default_plugin_dirs() {
    const fs::path exe = executable_dir();
    return {(exe / ".." / "lib" / "skulk" / "plugins").lexically_normal(), exe / "plugins"};
}

LoadedPlugin::LoadedPlugin(PluginRecord record, std::shared_ptr<const Library> library)
    : record_(std::move(record)), library_(std::move(library)) {}

const skulk_compute_v1 *LoadedPlugin::compute() const {
    return record_.kind == SKULK_KIND_COMPUTE ? static_cast<const skulk_compute_v1 *>(library_->info().vtable) : nullptr;
}
const skulk_served_v1 *LoadedPlugin::served() const {
    return record_.kind == SKULK_KIND_SERVED ? static_cast<const skulk_served_v1 *>(library_->info().vtable) : nullptr;
}
const skulk_adapter_v1 *LoadedPlugin::adapter() const {
    return record_.kind == SKULK_KIND_ADAPTER ? static_cast<const skulk_adapter_v1 *>(library_->info().vtable) : nullptr;
}

skulk_proc LoadedPlugin::proc(const std::string &name) const { return library_->proc(name); }

Registry::Registry(std::vector<fs::path> dirs)
    : dirs_(std::move(dirs)), explicit_dirs_(!dirs_.empty()), services_(std::make_shared<HostServices>()) {
    if (dirs_.empty()) dirs_ = default_plugin_dirs();
}

Registry::~Registry() = default;

void Registry::set_cancelled(std::function<bool(uint64_t)> cancelled) {
    std::unique_lock lock(services_->mutex);
    services_->cancelled = std::move(cancelled);
}

void Registry::scan() {
    auto log = log::get("plugin");
    records_.clear();
    loaded_.clear();
    std::set<fs::path> seen;                     // one file reachable from two dirs
    std::map<std::pair<uint32_t, std::string>, fs::path> by_name; // first dir wins
    for (const auto &dir : dirs_) {
        std::error_code ec;
        const auto files = candidates_in(dir, ec);
        if (ec) {
            // A missing default dir is normal (not installed); a missing
            // --plugin-dir is probably a typo.
            if (explicit_dirs_) log->warn("plugin dir {}: {}", dir.string(), ec.message());
            else log->debug("plugin dir {}: {}", dir.string(), ec.message());
            continue;
        }
        log->debug("plugin dir {}: {} candidate(s)", dir.string(), files.size());
        for (const auto &path : files) {
            std::error_code cec;
            const auto canonical = fs::weakly_canonical(path, cec);
            if (!seen.insert(cec ? path : canonical).second) continue;

            auto plugin_log = [&](int level, const std::string &msg) {
                log::get("plugin:" + path.stem().string())
                    ->log(static_cast<spdlog::level::level_enum>(std::clamp(level, 0, 4)), "(probe) {}", msg);
            };
            const auto probe_start = std::chrono::steady_clock::now();
            PluginRecord record = probe_in_child(path, probe_timeout_, plugin_log);
            log->debug("probed {} in {} ms", path.string(),
                       std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                             probe_start)
                           .count());
            std::shared_ptr<Library> library;
            if (record.usable) {
                const auto key = std::make_pair(record.kind, record.name);
                if (auto it = by_name.find(key); it != by_name.end()) {
                    record.usable = false;
                    record.refused_reason = fmt::format("duplicate {} plugin '{}': {} was found first",
                                                        kind_name(record.kind), record.name, it->second.string());
                } else {
                    // Passed the probe: now load it for real, in this process.
                    PluginRecord here;
                    library = Library::open(path, services_, here);
                    record = here;
                    if (library) by_name.emplace(key, path);
                }
            }
            if (record.usable) {
                log->info("plugin {} {} ({}, ABI {}.{}, score {}, tags [{}]) from {}", record.name, record.version,
                          kind_name(record.kind), record.abi_major, record.abi_minor, record.score,
                          fmt::join(record.backend_tags, ", "), path.string());
                loaded_.push_back(std::make_shared<const LoadedPlugin>(record, library));
            } else {
                log->warn("plugin {} refused: {}", path.string(), record.refused_reason);
            }
            records_.push_back(std::move(record));
        }
    }
    if (loaded_.empty()) {
        std::vector<std::string> names;
        for (const auto &d : dirs_) names.push_back(d.string());
        log->warn("no usable plugins in {}", fmt::join(names, ", "));
    }
}

std::vector<std::shared_ptr<const LoadedPlugin>> Registry::all(uint32_t kind) const {
    std::vector<std::shared_ptr<const LoadedPlugin>> out;
    for (const auto &p : loaded_)
        if (p->record().kind == kind) out.push_back(p);
    return out;
}

std::shared_ptr<const LoadedPlugin> Registry::best(uint32_t kind, const std::vector<std::string> &tags) const {
    auto pick = [&](auto &&accept) {
        std::shared_ptr<const LoadedPlugin> chosen;
        for (const auto &p : loaded_)
            if (p->record().kind == kind && accept(p->record()) && (!chosen || p->record().score > chosen->record().score))
                chosen = p;
        return chosen;
    };
    if (tags.empty()) return pick([](const PluginRecord &) { return true; });
    for (const auto &tag : tags) // the first tag any plugin offers wins, then the score
        if (auto p = pick([&](const PluginRecord &r) {
                return std::find(r.backend_tags.begin(), r.backend_tags.end(), tag) != r.backend_tags.end();
            }))
            return p;
    return nullptr;
}

std::vector<std::string> Registry::backend_tags() const {
    std::vector<std::string> out;
    for (const auto &p : loaded_)
        for (const auto &t : p->record().backend_tags)
            if (std::find(out.begin(), out.end(), t) == out.end()) out.push_back(t);
    return out;
}

} // namespace skulk::plugin
