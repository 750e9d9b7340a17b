// skulk::utf8::first_invalid: what the HTTP front refuses in a request body
// and the card parser in a card's text.
#include "skulk/utf8.hpp"

#include <gtest/gtest.h>

#include <string>

using skulk::utf8::first_invalid;

namespace {
constexpr size_t npos = std::string_view::npos;
}

TEST(Utf8Check, WellFormedTextPasses) {
    EXPECT_EQ(first_invalid(""), npos);
    EXPECT_EQ(first_invalid("{\"a\":\"plain ascii\"}"), npos);
    EXPECT_EQ(first_invalid("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), npos); // 2, 3 and 4 bytes
    EXPECT_EQ(first_invalid("\xf4\x8f\xbf\xbf"), npos);                          // U+10FFFF
}

TEST(Utf8Check, IllFormedSequencesGiveTheirOffset) {
    EXPECT_EQ(first_invalid("ab\xff"), 2u);
    EXPECT_EQ(first_invalid("a\x80"), 1u);                 // a lone continuation byte
    EXPECT_EQ(first_invalid("xy\xc3"), 2u);                // truncated at the end
    EXPECT_EQ(first_invalid("\xc3(ok"), 0u);               // a lead byte without its continuation
    EXPECT_EQ(first_invalid("\xc0\xaf"), 0u);              // overlong "/"
    EXPECT_EQ(first_invalid("ok\xed\xa0\x80"), 2u);        // a UTF-16 surrogate
    EXPECT_EQ(first_invalid("\xf4\x90\x80\x80"), 0u);      // past U+10FFFF
    EXPECT_EQ(first_invalid(std::string("a\0b\xfe", 4)), 3u); // NUL is fine, 0xFE is not
}
