#include "model/unicode.hpp"

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#include <array>
#include <stdexcept>

namespace skulk::model::unicode {

void append_utf8(std::string &out, uint32_t c) {
    if (c < 0x80) {
        out += static_cast<char>(c);
    } else if (c < 0x800) {
        out += static_cast<char>(0xC0 | (c >> 6));
        out += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        out += static_cast<char>(0xE0 | (c >> 12));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (c >> 18));
        out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (c & 0x3F));
    }
}

namespace {
// Decodes one character at s[i]; returns its length, or 0 when the bytes
// are not a valid sequence, or -1 when the sequence is cut short by the end.
int decode_one(std::string_view s, size_t i, uint32_t &cpt) {
    uint8_t b = static_cast<uint8_t>(s[i]);
    int n;
    uint32_t min;
    if (b < 0x80) {
        cpt = b;
        return 1;
    } else if ((b & 0xE0) == 0xC0) {
        n = 2, cpt = b & 0x1F, min = 0x80;
    } else if ((b & 0xF0) == 0xE0) {
        n = 3, cpt = b & 0x0F, min = 0x800;
    } else if ((b & 0xF8) == 0xF0) {
        n = 4, cpt = b & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    for (int k = 1; k < n; ++k) {
        if (i + k >= s.size()) return -1;
        uint8_t c = static_cast<uint8_t>(s[i + k]);
        if ((c & 0xC0) != 0x80) return 0;
        cpt = (cpt << 6) | (c & 0x3F);
    }
    if (cpt < min || cpt > 0x10FFFF || (cpt >= 0xD800 && cpt <= 0xDFFF)) return 0;
    return n;
}
} // namespace

std::vector<uint32_t> decode_utf8(std::string_view s) {
    std::vector<uint32_t> out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        uint32_t c = 0;
        int n = decode_one(s, i, c);
        if (n <= 0) {
            out.push_back(0xFFFD);
            ++i;
        } else {
            out.push_back(c);
            i += n;
        }
    }
    return out;
}

size_t complete_utf8_prefix(std::string_view s) {
    // Only the last 3 bytes can belong to an unfinished character.
    size_t start = s.size() > 3 ? s.size() - 3 : 0;
    for (size_t i = start; i < s.size(); ++i) {
        uint32_t c;
        uint8_t b = static_cast<uint8_t>(s[i]);
        if ((b & 0xC0) == 0x80) continue; // a continuation byte: part of an earlier char
        if (decode_one(s, i, c) == -1) return i;
    }
    return s.size();
}

void append_sanitized(std::string &out, std::string_view s) {
    for (size_t i = 0; i < s.size();) {
        uint32_t c = 0;
        int n = decode_one(s, i, c);
        if (n <= 0) {
            out += "\xEF\xBF\xBD";
            ++i;
        } else {
            out.append(s.substr(i, n));
            i += n;
        }
    }
}

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
            append_utf8(to_utf8[b], cpt);
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
