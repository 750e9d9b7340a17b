// The Unicode facts the tokenizers need (categories, lower-casing, NFD via
// ICU; the GPT-2 byte<->unicode map). Plain UTF-8 coding is skulk/utf8.hpp.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace skulk::model::unicode {

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
