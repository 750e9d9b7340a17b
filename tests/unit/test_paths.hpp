// Where the tests find shared/ data and the source tree.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace skulk::test {

inline std::filesystem::path shared_dir() {
    const char *d = std::getenv("SKULK_SHARED_DIR");
    return d ? std::filesystem::path(d) : std::filesystem::path("../shared");
}
inline std::filesystem::path models_dir() { return shared_dir() / "models"; }
inline std::filesystem::path source_dir() {
    const char *d = std::getenv("SKULK_SOURCE_DIR");
    return d ? std::filesystem::path(d) : std::filesystem::current_path();
}
inline std::string read_file(const std::filesystem::path &p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + p.string());
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

} // namespace skulk::test
