// UTF-8 helpers with no dependency: encoding a code point, decoding with
// U+FFFD for invalid bytes, and finding where a stream may be cut without
// splitting a character. Header-only, so tokenizers, chat templates and
// plugins share one implementation (as skulk/json_text.hpp does).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace skulk::utf8 {

// Length of the sequence a lead byte starts (1 for stray bytes), the way
// llama.cpp splits text into symbols.
inline size_t sequence_length(char c) {
    static constexpr size_t kLookup[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return kLookup[static_cast<uint8_t>(c) >> 4];
}

inline void append(std::string &out, uint32_t c) {
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

// Decodes one character at s[i]; returns its length, or 0 when the bytes
// are not a valid sequence, or -1 when the sequence is cut short by the end.
inline int decode_one(std::string_view s, size_t i, uint32_t &cpt) {
    const uint8_t b = static_cast<uint8_t>(s[i]);
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
        const uint8_t c = static_cast<uint8_t>(s[i + k]);
        if ((c & 0xC0) != 0x80) return 0;
        cpt = (cpt << 6) | (c & 0x3F);
    }
    if (cpt < min || cpt > 0x10FFFF || (cpt >= 0xD800 && cpt <= 0xDFFF)) return 0;
    return n;
}

// The byte offset of the first ill-formed sequence in `s` (overlong forms,
// surrogates, code points past U+10FFFF and a sequence cut short by the end
// included), or std::string_view::npos when all of it is well-formed.
inline size_t first_invalid(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
        uint32_t c = 0;
        const int n = decode_one(s, i, c);
        if (n <= 0) return i;
        i += size_t(n);
    }
    return std::string_view::npos;
}

// Decodes UTF-8; each byte that starts no valid sequence becomes U+FFFD.
inline std::vector<uint32_t> decode(std::string_view s) {
    std::vector<uint32_t> out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        uint32_t c = 0;
        const int n = decode_one(s, i, c);
        if (n <= 0) {
            out.push_back(0xFFFD);
            ++i;
        } else {
            out.push_back(c);
            i += size_t(n);
        }
    }
    return out;
}

// Length of the longest prefix of `s` made of complete characters or bytes
// that can never start one; the rest could still be completed by later bytes.
inline size_t complete_prefix(std::string_view s) {
    // Only the last 3 bytes can belong to an unfinished character.
    const size_t start = s.size() > 3 ? s.size() - 3 : 0;
    for (size_t i = start; i < s.size(); ++i) {
        uint32_t c;
        const uint8_t b = static_cast<uint8_t>(s[i]);
        if ((b & 0xC0) == 0x80) continue; // a continuation byte: part of an earlier char
        if (decode_one(s, i, c) == -1) return i;
    }
    return s.size();
}

// Appends `s` to out with each byte that starts no valid sequence replaced
// by U+FFFD.
inline void append_sanitized(std::string &out, std::string_view s) {
    for (size_t i = 0; i < s.size();) {
        uint32_t c = 0;
        const int n = decode_one(s, i, c);
        if (n <= 0) {
            out += "\xEF\xBF\xBD";
            ++i;
        } else {
            out.append(s.substr(i, size_t(n)));
            i += size_t(n);
        }
    }
}

} // namespace skulk::utf8
