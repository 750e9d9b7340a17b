// All model cards this node knows: built-in cards (read-only, from the
// repo's cards/ folder or the install's share/skulk/cards) and custom cards
// (<data-dir>/custom_cards/*.toml, added and deleted at runtime).
//
// Broken card files are skipped and reported in load_errors(). Safe for
// concurrent use: readers take a shared lock, add/delete an exclusive one.
//
// In the daemon, add/delete go through the cluster (AddCustomModelCard ->
// CustomModelCardAdded -> every node calls add_custom_toml; see
// api/custom_card_sync.hpp); the store itself is one node's files.
#pragma once

#include "cards/model_card.hpp"

#include <filesystem>
#include <map>
#include <optional>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace skulk::cards {

// Why a store operation was refused; the HTTP layer maps it to a status.
class CardStoreError : public std::runtime_error {
public:
    enum class Kind { invalid, not_found, conflict, io };
    CardStoreError(Kind kind, const std::string &message) : std::runtime_error(message), kind_(kind) {}
    Kind kind() const { return kind_; }

private:
    Kind kind_;
};

class CardStore {
public:
    // builtin_dir may be empty (no built-in cards); custom_dir is created on
    // the first add.
    CardStore(std::filesystem::path builtin_dir, std::filesystem::path custom_dir);

    // (Re)reads both folders. Returns the number of cards loaded.
    size_t reload();

    std::vector<ModelCard> list() const; // sorted by model_id
    std::optional<ModelCard> find(std::string_view model_id) const;
    std::vector<std::string> load_errors() const; // one message per skipped file
    std::vector<std::string> load_warnings() const;

    // Validates `card` (already parsed: see card_parser.hpp), writes it
    // atomically as <custom_dir>/<file-safe id>.toml and makes it visible.
    // Replaces a custom card of the same id; a built-in id is a conflict.
    ModelCard add_custom(ModelCard card);
    // The checks add_custom makes, without writing: returns the TOML text
    // add_custom would write (what the cluster replicates).
    std::string prepare_custom(const ModelCard &card) const;
    // A replicated card's text (from prepare_custom on some node): parsed
    // against this node's custom dir, written unless the file already holds
    // exactly this text (so re-applying an event keeps the file's mtime).
    ModelCard add_custom_toml(const std::string &text);
    // not_found for an unknown id, conflict for a built-in card.
    void delete_custom(std::string_view model_id);

    // The folders a custom card's model file must lie in (see
    // model_files.hpp). Set once, before the routes serve; none until then,
    // so nothing is allowed.
    void set_model_dirs(std::vector<std::filesystem::path> dirs) { model_dirs_ = std::move(dirs); }
    const std::vector<std::filesystem::path> &model_dirs() const { return model_dirs_; }

    const std::filesystem::path &builtin_dir() const { return builtin_dir_; }
    const std::filesystem::path &custom_dir() const { return custom_dir_; }

private:
    void load_dir(const std::filesystem::path &dir, bool custom);
    // With mutex_ held: the checks of prepare_custom; returns the card's file.
    std::filesystem::path check_custom_locked(const ModelCard &card) const;
    ModelCard store_locked(const std::string &text);

    std::filesystem::path builtin_dir_;
    std::filesystem::path custom_dir_;
    std::vector<std::filesystem::path> model_dirs_;
    mutable std::shared_mutex mutex_;
    std::map<std::string, ModelCard, std::less<>> cards_;
    std::vector<std::string> errors_;
    std::vector<std::string> warnings_;
};

// The built-in cards folder: `flag` (--cards-dir), then $SKULK_CARDS_DIR,
// then <exe>/../share/skulk/cards, then the source tree's cards/ (compiled
// in). Empty when none exists.
std::filesystem::path find_builtin_cards_dir(const std::filesystem::path &flag);

// A file name for a model id ("org/model:q4" -> "org--model_q4.toml").
std::string card_file_name(std::string_view model_id);

} // namespace skulk::cards
