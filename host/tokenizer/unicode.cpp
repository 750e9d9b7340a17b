#include "tokenizer/unicode.hpp"
#include "skulk/utf8.hpp"

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#include <array>
#include <stdexcept>

namespace skulk::model::unicode {

CptFlags flags(uint32_t cpt) {
    CptFlags f;
    int8_t t = u_charType(static_cast<UChar32>(cpt));
    switch (t) {
    case U_UPPERCASE_LETTER: case U_LOWERCASE_LETTER: case U_TITLECASE_LETTER: case U_MODIFIER_LETTER:
    case U_OTHER_LETTER: f.letter = true; break;
    case U_DECIMAL_DIGIT_NUMBER: case U_LETTER_NUMBER: case U_OTHER_NUMBER: f.number = true; break;
    case U_CONNECTOR_PUNCTUATION: case U_DASH_PUNCTUATION: case U_START_PUNCTUATION: case U_END_PUNCTUATION:
    case U_INITIAL_PUNCTUATION: case U_FINAL_PUNCTUATION: case U_OTHER_PUNCTUATION: f.punctuation = true; break;
    case U_MATH_SYMBOL: case U_CURRENCY_SYMBOL: case U_MODIFIER_SYMBOL: case U_OTHER_SYMBOL: f.symbol = true; break;
    case U_CONTROL_CHAR: case U_FORMAT_CHAR: case U_PRIVATE_USE_CHAR: case U_SURROGATE: case U_UNASSIGNED:
        f.control = true;
        break;
    case U_NON_SPACING_MARK: case U_ENCLOSING_MARK: case U_COMBINING_SPACING_MARK: f.mark = true; break;
    default: break;
    }
    f.whitespace = u_isUWhiteSpace(static_cast<UChar32>(cpt));
    if (f.whitespace) f.control = false; // \t \n \r are Cc but count as whitespace
    return f;
}

uint32_t to_lower(uint32_t cpt) { return static_cast<uint32_t>(u_tolower(static_cast<UChar32>(cpt))); }

std::vector<uint32_t> nfd(const std::vector<uint32_t> &cpts) {
    UErrorCode err = U_ZERO_ERROR;
    const UNormalizer2 *n = unorm2_getNFDInstance(&err);
    if (U_FAILURE(err)) throw std::runtime_error("ICU NFD normalizer unavailable");
    std::u16string in;
    for (uint32_t c : cpts) {
        if (c >= 0x10000) {
            in += static_cast<char16_t>(0xD800 + ((c - 0x10000) >> 10));
            in += static_cast<char16_t>(0xDC00 + ((c - 0x10000) & 0x3FF));
        } else {
            in += static_cast<char16_t>(c);
        }
    }
    std::u16string out(in.size() * 4 + 16, u'\0');
    int32_t len = unorm2_normalize(n, reinterpret_cast<const UChar *>(in.data()), static_cast<int32_t>(in.size()),
                                   reinterpret_cast<UChar *>(out.data()), static_cast<int32_t>(out.size()), &err);
    if (U_FAILURE(err)) throw std::runtime_error("ICU NFD normalization failed");
    std::vector<uint32_t> res;
    res.reserve(len);
    for (int32_t i = 0; i < len; ++i) {
        uint32_t c = out[i];
        if (c >= 0xD800 && c < 0xDC00 && i + 1 < len) {
            c = 0x10000 + ((c - 0xD800) << 10) + (out[i + 1] - 0xDC00);
            ++i;
        }
        res.push_back(c);
    }
    return res;
}

namespace {
struct ByteMap {
    std::array<std::string, 256> to_utf8;
    std::array<int, 512> from_cpt; // code points used are < 324
    ByteMap() {
        from_cpt.fill(-1);
        int n = 0;
        for (int b = 0; b < 256; ++b) {
            bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            uint32_t cpt = printable ? static_cast<uint32_t>(b) : static_cast<uint32_t>(256 + n++);
            utf8::append(to_utf8[b], cpt);
            from_cpt[cpt] = b;
        }
    }
};
const ByteMap &byte_map() {
    static const ByteMap m;
    return m;
}
} // namespace

const std::string &byte_to_utf8(uint8_t b) { return byte_map().to_utf8[b]; }
int utf8_to_byte(uint32_t cpt) { return cpt < 512 ? byte_map().from_cpt[cpt] : -1; }

} // namespace skulk::model::unicode
