// Which model files the daemon may open, and whether one is usable.
//
// A card's source.path is chosen by whoever posts the card (POST
// /models/add), so it is confined: the file, once canonicalised (symlinks
// and ".." resolved), must lie inside one of the configured model folders
// (--model-dir / SKULK_MODEL_DIRS / models.dirs; by default
// <data-dir>/models and the built-in cards folder). Checked before the file
// is opened at all.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace skulk::cards {

// The folders used when none are configured.
std::vector<std::filesystem::path> default_model_dirs(const std::filesystem::path &data_dir,
                                                      const std::filesystem::path &builtin_cards_dir);

// "" when `file` lies inside one of `dirs` (both canonicalised first; a dir
// that does not exist holds nothing), else the refusal naming the rule and
// the allowed folders.
std::string check_model_location(const std::filesystem::path &file, const std::vector<std::filesystem::path> &dirs);

// "" when `file` is a readable regular file holding a valid GGUF header and
// metadata, else why not ("... does not exist", "... is not a GGUF file: ...").
std::string check_model_file(const std::filesystem::path &file);

} // namespace skulk::cards
