// Appending a JSON string literal to a reused buffer, for per-token paths
// (runner events, SSE chunks) where building a JSON DOM would allocate per
// token. nlohmann::json keeps its escaper private, hence this small one;
// header-only so that plugins (which link no host code) and the host share
// one implementation.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace skulk {

// Appends "text" (with the quotes) to out. Bytes that are not valid UTF-8 (a
// token that splits a multi-byte character) become U+FFFD, one per maximal
// ill-formed subpart (Unicode's recommended practice, and what
// nlohmann::json's dump with error_handler_t::replace writes), so the output
// is always valid JSON and the same as that dump's.
inline void append_json_string(std::string &out, std::string_view text) {
    static constexpr char hex[] = "0123456789abcdef";
    out.push_back('"');
    const auto *p = reinterpret_cast<const unsigned char *>(text.data());
    const size_t n = text.size();
    for (size_t i = 0; i < n;) {
        const unsigned char c = p[i];
        if (c < 0x80) {
            switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            default:
                if (c < 0x20) {
                    out += "\\u00";
                    out.push_back(hex[c >> 4]);
                    out.push_back(hex[c & 15]);
                } else {
                    out.push_back(char(c));
                }
            }
            ++i;
            continue;
        }
        // A well-formed sequence's length, and the range its second byte
        // must fall in (narrower after E0, ED, F0 and F4: that excludes
        // overlong forms, surrogates and values past U+10FFFF).
        size_t len = 0;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) len = 2;
        else if (c >= 0xE0 && c <= 0xEF) { len = 3; lo = c == 0xE0 ? 0xA0 : 0x80; hi = c == 0xED ? 0x9F : 0xBF; }
        else if (c >= 0xF0 && c <= 0xF4) { len = 4; lo = c == 0xF0 ? 0x90 : 0x80; hi = c == 0xF4 ? 0x8F : 0xBF; }
        size_t good = 1; // bytes from i that can still start a well-formed sequence
        for (; len != 0 && good < len && i + good < n; ++good) {
            const unsigned char b = p[i + good];
            if (good == 1 ? (b < lo || b > hi) : (b & 0xC0) != 0x80) break;
        }
        if (len != 0 && good == len) out.append(text.data() + i, len);
        else out += "\xEF\xBF\xBD";
        i += good;
    }
    out.push_back('"');
}

} // namespace skulk
