// A model card: what a model is and where it may run (DESIGN.md section 6).
// Plain C++ data; the TOML reader is card_parser.hpp, the JSON view lives in
// the HTTP layer (api/model_routes.cpp).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace skulk::cards {

// Where the GGUF comes from: a local file, or a Hugging Face repo + file.
struct CardSource {
    std::string path_as_written;   // the card's source.path, verbatim (may be relative)
    std::filesystem::path path;    // resolved against the card file's folder; empty for hf
    std::string hf_repo;
    std::string hf_file;
    bool is_local() const { return !path_as_written.empty(); }
};

struct CardPlacement {
    std::vector<std::string> compatible_backends; // hard filter, "<engine>-<compute>"
    std::vector<std::string> backend_preference;  // ordered soft preference
    std::optional<uint32_t> max_context_tokens;
};

struct CardRuntime {
    std::optional<std::string> chat_template; // overrides tokenizer.chat_template
};

struct ModelCard {
    std::string model_id; // required, [a-zA-Z0-9._:/-]+
    std::string name;     // display name (defaults to model_id)
    std::string family;
    std::string quantization;
    std::string base_model;
    uint32_t n_layers = 0;
    uint32_t hidden_size = 0;
    uint32_t num_key_value_heads = 0;
    uint32_t context_length = 0;
    uint64_t storage_size = 0; // bytes of the GGUF
    std::vector<std::string> tasks;        // e.g. "TextGeneration"
    std::vector<std::string> capabilities; // e.g. "text"
    bool supports_tensor = false;
    CardSource source;
    CardPlacement placement;
    CardRuntime runtime;

    // Not part of the file: where it was read from and whether it is a custom card.
    bool is_custom = false;
    std::filesystem::path file;
};

} // namespace skulk::cards
