// Reads a model card from TOML (toml11 v3) and writes one back.
//
// A broken card raises CardError naming the file, the line (when the TOML
// has one) and the field, e.g.
//   cards/x.toml:7: field 'n_layers': expected an integer, got a string
#pragma once

#include "cards/model_card.hpp"

#include <toml.hpp>

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace skulk::cards {

class CardError : public std::runtime_error {
public:
    CardError(std::string origin, uint32_t line, std::string field, std::string reason);
    const std::string &origin() const { return origin_; }
    uint32_t line() const { return line_; } // 0: unknown (e.g. a card built from JSON)
    const std::string &field() const { return field_; }
    const std::string &reason() const { return reason_; }

private:
    std::string origin_;
    uint32_t line_;
    std::string field_;
    std::string reason_;
};

struct ParsedCard {
    ModelCard card;
    std::vector<std::string> warnings; // unknown keys: reported, not fatal
};

// origin names the text in messages (a file path, "request body").
// base_dir resolves a relative source.path.
ParsedCard parse_card_text(std::string_view toml_text, const std::string &origin,
                           const std::filesystem::path &base_dir);
// The same checks on an already-built TOML document (the HTTP layer turns a
// JSON card into one so both forms share one validator).
ParsedCard parse_card_document(const toml::value &root, const std::string &origin,
                               const std::filesystem::path &base_dir);
ParsedCard load_card_file(const std::filesystem::path &file);

// The card as TOML text; parse_card_text(card_to_toml(c)) gives c back.
std::string card_to_toml(const ModelCard &card);

// "<engine>-<compute>": lower-case letters, digits and '_' on both sides of one '-'.
bool is_valid_backend_tag(std::string_view tag);
// [a-zA-Z0-9._:/-]+ with at most one "org/name" slash and no "..".
bool is_valid_model_id(std::string_view id);
// The rule is_valid_model_id checks, for error messages.
inline constexpr std::string_view kModelIdRule =
    "1-256 characters of [a-zA-Z0-9._:/-], at most one '/' (\"org/name\") with text on both sides, and no \"..\"";

} // namespace skulk::cards
