// The tokenizer of a model, built from GGUF `tokenizer.*` metadata:
// SentencePiece-style ("llama"), byte-level BPE ("gpt2") with llama.cpp's
// pre-tokenizer variants, and WordPiece ("bert"). Behaviour follows
// llama.cpp (llama-vocab.cpp) so that token ids match its reference dumps.
#pragma once

#include "gguf/gguf.hpp"

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace skulk::model {

// Tokenizing failed (e.g. a character the vocabulary cannot spell).
struct TokenizeError : std::runtime_error {
    using runtime_error::runtime_error;
};

enum class VocabType { spm, bpe, wpm };

// llama.cpp's pre-tokenizer families (tokenizer.ggml.pre).
enum class PreType { default_, llama3, deepseek_llm, deepseek_coder, falcon, mpt, starcoder, gpt2, refact, qwen2 };

// Token attributes (bit flags), derived from GGUF token types.
enum TokenAttr : uint32_t {
    attr_undefined = 0,
    attr_unknown = 1u << 0,
    attr_unused = 1u << 1,
    attr_normal = 1u << 2,
    attr_control = 1u << 3,
    attr_user_defined = 1u << 4,
    attr_byte = 1u << 5,
    attr_lstrip = 1u << 7,
    attr_rstrip = 1u << 8,
};

class PreTokenizer; // pretokenizer.hpp

// Lets unordered_map<std::string, ...> be searched with a string_view.
struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

class Vocab {
public:
    static constexpr int32_t kNull = -1;

    // Throws GgufError naming the file and key when the metadata is bad.
    static std::unique_ptr<Vocab> from_gguf(const GgufFile &file);
    ~Vocab();

    // Throws TokenizeError when the text cannot be spelled with this vocab.
    std::vector<int32_t> tokenize(std::string_view text, bool add_special, bool parse_special) const;

    // The bytes of one token (special=true: control tokens show their text).
    std::string token_to_piece(int32_t id, bool special = true) const;
    // Appends the piece to `out` without a temporary (generation loop).
    void append_piece(int32_t id, std::string &out, bool special = true) const;
    // Concatenated pieces; remove_special drops BOS/EOS at the ends and hides
    // control tokens (llama_detokenize).
    std::string detokenize(const std::vector<int32_t> &ids, bool remove_special) const;

    VocabType type() const { return type_; }
    PreType pre_type() const { return pre_type_; }
    size_t n_tokens() const { return tokens_.size(); }
    int32_t bos() const { return bos_; }
    int32_t eos() const { return eos_; }
    int32_t eot() const { return eot_; }
    int32_t unk() const { return unk_; }
    int32_t sep() const { return sep_; }
    int32_t pad() const { return pad_; }
    bool add_bos() const { return add_bos_; }
    bool add_eos() const { return add_eos_; }
    bool is_eog(int32_t id) const;
    bool is_control(int32_t id) const { return valid(id) && (tokens_[id].attr & attr_control); }
    uint32_t attr(int32_t id) const { return valid(id) ? tokens_[id].attr : 0; }
    const std::string &text(int32_t id) const { return tokens_.at(static_cast<size_t>(id)).text; }
    float score(int32_t id) const { return tokens_.at(static_cast<size_t>(id)).score; }
    int32_t find(std::string_view text) const;

    // --- internals shared by the tokenizer implementations ---
    struct TokenData {
        std::string text;
        float score = 0;
        uint32_t attr = attr_normal;
    };
    const TokenData &token(int32_t id) const { return tokens_[static_cast<size_t>(id)]; }
    // BPE merge rank of (left, right), or -1.
    int bpe_rank(std::string_view left, std::string_view right, std::string &scratch) const;
    int32_t byte_to_token(uint8_t b) const;
    size_t max_token_len() const { return max_token_len_; }
    bool add_space_prefix() const { return add_space_prefix_; }
    bool ignore_merges() const { return ignore_merges_; }
    const PreTokenizer &pre_tokenizer() const { return *pre_; }
    const std::string &label() const { return label_; }

private:
    Vocab() = default;
    bool valid(int32_t id) const { return id >= 0 && static_cast<size_t>(id) < tokens_.size(); }
    void tokenize_text(std::string_view text, bool after_special, std::vector<int32_t> &out) const;

    std::string label_;
    VocabType type_ = VocabType::spm;
    PreType pre_type_ = PreType::default_;
    std::vector<TokenData> tokens_;
    std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> token_to_id_;
    std::unordered_map<std::string, int, StringHash, std::equal_to<>> bpe_ranks_; // "left right" -> rank
    std::vector<int32_t> special_tokens_;             // longest text first
    std::vector<int32_t> eog_;
    std::unique_ptr<PreTokenizer> pre_;
    int32_t bos_ = kNull, eos_ = kNull, eot_ = kNull, eom_ = kNull, unk_ = kNull, sep_ = kNull, pad_ = kNull;
    bool add_bos_ = false, add_eos_ = false, add_sep_ = false, add_space_prefix_ = false;
    bool ignore_merges_ = false, clean_spaces_ = false;
    size_t max_token_len_ = 0;
};

// Turns generated tokens into text that is safe to send as it comes: never
// emits part of a UTF-8 character (holds incomplete bytes back until the
// next token completes them) and replaces invalid bytes with U+FFFD.
class StreamDecoder {
public:
    explicit StreamDecoder(const Vocab &vocab, bool special = false) : vocab_(vocab), special_(special) {
        pending_.reserve(16);
    }
    std::string push(int32_t token);
    // Appends the newly complete text to out (no allocation once warm).
    void push(int32_t token, std::string &out);
    // Whatever is still held back (an unfinished character becomes U+FFFD).
    std::string flush();

private:
    const Vocab &vocab_;
    bool special_;
    std::string pending_;
};

// Tokenizer implementations (one file each).
void tokenize_spm(const Vocab &vocab, std::string_view text, std::vector<int32_t> &out);
void tokenize_bpe(const Vocab &vocab, std::string_view text, std::vector<int32_t> &out);
void tokenize_wpm(const Vocab &vocab, std::string_view text, std::vector<int32_t> &out);

} // namespace skulk::model
