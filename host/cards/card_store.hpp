// All model cards this node knows: built-in cards (read-only, from the
// repo's cards/ folder or the install's share/skulk/cards) and custom cards
// (<data-dir>/custom_cards/*.toml, added and deleted at runtime).
//
// Broken card files are skipped and reported in load_errors(). Safe for
// concurrent use: readers take a shared lock, add/delete an exclusive one.
//
// For now add/delete act on this node only; once the cluster core lands
// they become commands (AddCustomModelCard -> event -> every node persists).
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
    // not_found for an unknown id, conflict for a built-in card.
    void delete_custom(std::string_view model_id);

    const std::filesystem::path &builtin_dir() const { return builtin_dir_; }
    const std::filesystem::path &custom_dir() const { return custom_dir_; }

private:
    void load_dir(const std::filesystem::path &dir, bool custom);

    std::filesystem::path builtin_dir_;
    std::filesystem::path custom_dir_;
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
