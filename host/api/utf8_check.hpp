// Request bodies are JSON, which is UTF-8 (RFC 8259): a body that is not is
// refused with 400 before any handler parses it.
#pragma once

#include <cstddef>
#include <string_view>

namespace skulk::api {

// The byte offset of the first ill-formed UTF-8 sequence in `text`
// (overlong forms, surrogates and code points past U+10FFFF included), or
// std::string_view::npos when it is all well-formed.
size_t first_invalid_utf8(std::string_view text);

} // namespace skulk::api
