#include "cards/model_files.hpp"

#include "gguf/gguf.hpp"

#include <system_error>

namespace skulk::cards {
namespace fs = std::filesystem;

namespace {

// Canonical form of a path that may not exist yet: the existing prefix with
// its symlinks resolved, the rest normalised (so "dir/../../etc" cannot hide).
fs::path canonical_or_weakly(const fs::path &p) {
    std::error_code ec;
    fs::path out = fs::weakly_canonical(fs::absolute(p, ec), ec);
    return ec ? fs::absolute(p).lexically_normal() : out;
}

bool inside(const fs::path &file, const fs::path &dir) {
    auto f = file.begin();
    for (auto d = dir.begin(); d != dir.end(); ++d, ++f) {
        if (d->empty() && std::next(d) == dir.end()) break; // a trailing "/"
        if (f == file.end() || *f != *d) return false;
    }
    return f != file.end(); // the folder itself is no model file
}

} // namespace

std::vector<fs::path> default_model_dirs(const fs::path &data_dir, const fs::path &builtin_cards_dir) {
    std::vector<fs::path> out{data_dir / "models"};
    if (!builtin_cards_dir.empty()) out.push_back(builtin_cards_dir);
    return out;
}

std::string check_model_location(const fs::path &file, const std::vector<fs::path> &dirs) {
    const fs::path real = canonical_or_weakly(file);
    std::string allowed;
    for (const auto &d : dirs) {
        std::error_code ec;
        const fs::path real_dir = fs::canonical(d, ec);
        if (!ec && inside(real, real_dir)) return "";
        allowed += (allowed.empty() ? "" : ", ") + d.string();
    }
    return "model file " + file.string() + (real != file ? " (" + real.string() + ")" : std::string()) +
           " is outside the model folders: model files may come only from " +
           (allowed.empty() ? std::string("the configured model folders (none are set)") : allowed) +
           " (--model-dir, SKULK_MODEL_DIRS or models.dirs in skulk.yaml)";
}

std::string check_model_file(const fs::path &file) {
    std::error_code ec;
    const auto st = fs::status(file, ec);
    if (ec || !fs::exists(st)) return "model file " + file.string() + " does not exist";
    if (!fs::is_regular_file(st)) return "model file " + file.string() + " is not a regular file";
    try {
        model::GgufFile::open(file); // validates the header, metadata and tensor table
    } catch (const model::GgufError &e) {
        return "model file " + file.string() + " is not a valid GGUF file: " + e.what();
    } catch (const std::exception &e) {
        return "model file " + file.string() + " cannot be read: " + e.what();
    }
    return "";
}

} // namespace skulk::cards
