#include "common/paths.hpp"

#include <cstdlib>
#include <unistd.h>

namespace skulk {
namespace {

std::filesystem::path env_path(const char *name) {
    const char *v = std::getenv(name);
    return v && *v ? std::filesystem::path(v) : std::filesystem::path();
}

std::filesystem::path home() {
    auto h = env_path("HOME");
    return h.empty() ? std::filesystem::path("/tmp") : h;
}

} // namespace

std::filesystem::path default_data_dir() {
    if (auto p = env_path("SKULK_HOME"); !p.empty()) return p;
    if (auto p = env_path("XDG_DATA_HOME"); !p.empty()) return p / "skulk";
    return home() / ".local/share/skulk";
}

std::filesystem::path default_log_dir() {
    if (auto p = env_path("SKULK_HOME"); !p.empty()) return p / "logs";
    if (auto p = env_path("XDG_CACHE_HOME"); !p.empty()) return p / "skulk/logs";
    return home() / ".cache/skulk/logs";
}

std::filesystem::path executable_dir() {
    std::error_code ec;
    auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    return ec ? std::filesystem::current_path() : exe.parent_path();
}

} // namespace skulk
