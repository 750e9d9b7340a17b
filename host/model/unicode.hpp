// UTF-8 helpers and the Unicode facts the tokenizers need (categories,
// lower-casing, NFD via ICU; the GPT-2 byte<->unicode map).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace skulk::model::unicode {

// Length of the UTF-8 sequence a lead byte starts (1 for stray bytes), the
// way llama.cpp splits text into symbols.
inline size_t utf8_len(char c) {
    static constexpr size_t kLookup[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return kLookup[static_cast<uint8_t>(c) >> 4];
}

void append_utf8(std::string &out, uint32_t cpt);
// Decodes UTF-8; invalid sequences become U+FFFD.
std::vector<uint32_t> decode_utf8(std::string_view s);

// Length of the longest prefix of `s` made of complete UTF-8 characters or
// bytes that can never start one; the rest could still be completed by
// later bytes.
size_t complete_utf8_prefix(std::string_view s);
// Appends `s` to out with every invalid sequence replaced by U+FFFD.
void append_sanitized(std::string &out, std::string_view s);

struct CptFlags {
    bool letter = false, number = false, punctuation = false, symbol = false, control = false,
         whitespace = false, mark = false;
};
CptFlags flags(uint32_t cpt);
uint32_t to_lower(uint32_t cpt);
std::vector<uint32_t> nfd(const std::vector<uint32_t> &cpts);

// GPT-2's reversible byte -> printable code point map (bytes_to_unicode()).
const std::string &byte_to_utf8(uint8_t b);
// The inverse: the byte a code point stands for, or -1.
int utf8_to_byte(uint32_t cpt);

} // namespace skulk::model::unicode
