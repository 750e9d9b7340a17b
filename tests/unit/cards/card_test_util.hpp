// Shared helpers of the card tests: fixture paths and line lookup.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace skulk::cards::test {

inline std::filesystem::path data_dir() {
    return std::filesystem::path(SKULK_TEST_SOURCE_DIR) / "tests/unit/cards/data";
}

inline std::string read_text(const std::filesystem::path &p) {
    std::ifstream in(p);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// The 1-based line of the first occurrence of `needle` in the file: the
// expected line of an error, found without the parser.
inline unsigned line_containing(const std::filesystem::path &p, const std::string &needle) {
    std::istringstream in(read_text(p));
    unsigned n = 0;
    for (std::string line; std::getline(in, line);) {
        ++n;
        if (line.find(needle) != std::string::npos) return n;
    }
    return 0;
}

// A fresh temp folder removed at scope exit.
struct TempDir {
    std::filesystem::path path;
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "skulk-cards-XXXXXX").string();
        path = ::mkdtemp(tmpl.data());
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

} // namespace skulk::cards::test
