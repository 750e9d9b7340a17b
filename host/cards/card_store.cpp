#include "cards/card_store.hpp"

#include "cards/card_parser.hpp"
#include "common/paths.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <iterator>
#include <mutex>
#include <unistd.h>

namespace skulk::cards {
namespace {

namespace fs = std::filesystem;

// Writes `text` to `file` so that readers see the old or the new content,
// never a torn one: a temp file in the same folder, fsync, rename.
void write_atomically(const fs::path &file, const std::string &text) {
    const fs::path tmp = file.string() + ".tmp." + std::to_string(::getpid());
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        throw CardStoreError(CardStoreError::Kind::io, "cannot write " + tmp.string() + ": " + std::strerror(errno));
    size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            const std::string why = std::strerror(errno);
            ::close(fd);
            ::unlink(tmp.c_str());
            throw CardStoreError(CardStoreError::Kind::io, "cannot write " + tmp.string() + ": " + why);
        }
        done += size_t(n);
    }
    const bool synced = ::fsync(fd) == 0;
    ::close(fd);
    if (!synced || ::rename(tmp.c_str(), file.c_str()) != 0) {
        const std::string why = std::strerror(errno);
        ::unlink(tmp.c_str());
        throw CardStoreError(CardStoreError::Kind::io, "cannot write " + file.string() + ": " + why);
    }
    // Make the rename itself durable.
    if (const int dfd = ::open(file.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
}

} // namespace

std::string card_file_name(std::string_view model_id) {
    std::string out;
    for (char c : model_id) {
        if (c == '/') out += "--";
        else if (c == ':') out += '_';
        else out += c;
    }
    if (out.empty() || out[0] == '.') out.insert(0, "card-"); // never ".", "..", or a hidden file
    return out + ".toml";
}

CardStore::CardStore(fs::path builtin_dir, fs::path custom_dir)
    : builtin_dir_(std::move(builtin_dir)), custom_dir_(std::move(custom_dir)) {}

void CardStore::load_dir(const fs::path &dir, bool custom) {
    std::error_code ec;
    if (dir.empty() || !fs::is_directory(dir, ec)) return;
    std::vector<fs::path> files;
    for (const auto &entry : fs::directory_iterator(dir, ec))
        if (entry.path().extension() == ".toml" && entry.is_regular_file(ec)) files.push_back(entry.path());
    std::sort(files.begin(), files.end()); // a deterministic winner on duplicate ids
    for (const auto &file : files) {
        try {
            auto parsed = load_card_file(file);
            for (auto &w : parsed.warnings) warnings_.push_back(std::move(w));
            parsed.card.is_custom = custom;
            auto it = cards_.find(parsed.card.model_id);
            if (it != cards_.end()) {
                errors_.push_back(file.string() + ": field 'model_id': '" + parsed.card.model_id +
                                  "' is already defined by " + it->second.file.string() + "; card skipped");
                continue;
            }
            cards_.emplace(parsed.card.model_id, std::move(parsed.card));
        } catch (const CardError &e) {
            errors_.push_back(std::string(e.what()) + "; card skipped");
        } catch (const std::exception &e) { // never let one odd file stop the daemon
            errors_.push_back(file.string() + ": " + e.what() + "; card skipped");
        }
    }
}

size_t CardStore::reload() {
    std::unique_lock lock(mutex_);
    cards_.clear();
    errors_.clear();
    warnings_.clear();
    load_dir(builtin_dir_, false); // built-ins first: they win a clash
    load_dir(custom_dir_, true);
    return cards_.size();
}

std::vector<ModelCard> CardStore::list() const {
    std::shared_lock lock(mutex_);
    std::vector<ModelCard> out;
    out.reserve(cards_.size());
    for (const auto &[id, card] : cards_) out.push_back(card);
    return out;
}

std::optional<ModelCard> CardStore::find(std::string_view model_id) const {
    std::shared_lock lock(mutex_);
    auto it = cards_.find(model_id);
    if (it == cards_.end()) return std::nullopt;
    return it->second;
}

std::vector<std::string> CardStore::load_errors() const {
    std::shared_lock lock(mutex_);
    return errors_;
}

std::vector<std::string> CardStore::load_warnings() const {
    std::shared_lock lock(mutex_);
    return warnings_;
}

fs::path CardStore::check_custom_locked(const ModelCard &card) const {
    if (!is_valid_model_id(card.model_id))
        throw CardStoreError(CardStoreError::Kind::invalid, "field 'model_id': '" + card.model_id + "' is not valid (" + std::string(kModelIdRule) + ")");
    auto it = cards_.find(card.model_id);
    if (it != cards_.end() && !it->second.is_custom)
        throw CardStoreError(CardStoreError::Kind::conflict,
                             "model '" + card.model_id + "' is a built-in card and cannot be replaced");
    const fs::path file = custom_dir_ / card_file_name(card.model_id);
    // Two ids that map to one file name ("a/b" and "a--b") must not overwrite each other.
    for (const auto &[id, other] : cards_)
        if (other.is_custom && other.file == file && id != card.model_id)
            throw CardStoreError(CardStoreError::Kind::conflict,
                                 "model '" + card.model_id + "' would overwrite the card file of '" + id + "'");
    return file;
}

std::string CardStore::prepare_custom(const ModelCard &card) const {
    std::shared_lock lock(mutex_);
    const fs::path file = check_custom_locked(card);
    // Re-read what we would write, so the stored card is exactly what a restart loads.
    std::string text = card_to_toml(card);
    try {
        parse_card_text(text, file.string(), custom_dir_);
    } catch (const CardError &e) {
        throw CardStoreError(CardStoreError::Kind::invalid, e.what());
    }
    return text;
}

ModelCard CardStore::store_locked(const std::string &text) {
    ParsedCard parsed;
    try {
        parsed = parse_card_text(text, "custom card", custom_dir_);
    } catch (const CardError &e) {
        throw CardStoreError(CardStoreError::Kind::invalid, e.what());
    }
    const fs::path file = check_custom_locked(parsed.card);
    std::error_code ec;
    fs::create_directories(custom_dir_, ec);
    if (ec)
        throw CardStoreError(CardStoreError::Kind::io, "cannot create " + custom_dir_.string() + ": " + ec.message());
    std::string current;
    if (std::ifstream in(file, std::ios::binary); in) current.assign(std::istreambuf_iterator<char>(in), {});
    if (current != text) write_atomically(file, text);
    parsed.card.is_custom = true;
    parsed.card.file = file;
    cards_[parsed.card.model_id] = parsed.card;
    return parsed.card;
}

ModelCard CardStore::add_custom(ModelCard card) {
    const std::string text = prepare_custom(card);
    std::unique_lock lock(mutex_);
    return store_locked(text);
}

ModelCard CardStore::add_custom_toml(const std::string &text) {
    std::unique_lock lock(mutex_);
    return store_locked(text);
}

void CardStore::delete_custom(std::string_view model_id) {
    std::unique_lock lock(mutex_);
    auto it = cards_.find(model_id);
    if (it == cards_.end())
        throw CardStoreError(CardStoreError::Kind::not_found, "no custom model card '" + std::string(model_id) + "'");
    if (!it->second.is_custom)
        throw CardStoreError(CardStoreError::Kind::conflict,
                             "model '" + std::string(model_id) + "' is a built-in card and cannot be deleted");
    std::error_code ec;
    fs::remove(it->second.file, ec);
    if (ec)
        throw CardStoreError(CardStoreError::Kind::io, "cannot remove " + it->second.file.string() + ": " + ec.message());
    cards_.erase(it);
}

fs::path find_builtin_cards_dir(const fs::path &flag) {
    std::error_code ec;
    if (!flag.empty()) return flag;
    if (const char *e = std::getenv("SKULK_CARDS_DIR"); e && *e) return fs::path(e);
    if (auto p = executable_dir() / ".." / "share" / "skulk" / "cards"; fs::is_directory(p, ec))
        return p.lexically_normal();
#ifdef SKULK_SOURCE_CARDS_DIR
    if (fs::path p = SKULK_SOURCE_CARDS_DIR; fs::is_directory(p, ec)) return p;
#endif
    return {};
}

} // namespace skulk::cards
