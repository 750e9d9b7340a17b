#include "api/utf8_check.hpp"

#include <unicode/utf8.h> // U8_NEXT: ICU's validating decoder, header-only

#include <cstdint>

namespace skulk::api {

size_t first_invalid_utf8(std::string_view text) {
    const auto *s = reinterpret_cast<const uint8_t *>(text.data());
    const int32_t length = int32_t(text.size());
    int32_t i = 0;
    // ASCII runs are the common case: skip them without decoding.
    while (i < length) {
        if (s[i] < 0x80) {
            ++i;
            continue;
        }
        const int32_t start = i;
        UChar32 c;
        U8_NEXT(s, i, length, c);
        if (c < 0) return size_t(start);
    }
    return std::string_view::npos;
}

} // namespace skulk::api
