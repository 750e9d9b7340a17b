// skulk::append_json_string (sdk/include/skulk/json_text.hpp), the escaper of
// every per-token path (runner deltas and logprobs, the adapters' SSE
// chunks): its output must be exactly what nlohmann::json's dump with
// error_handler_t::replace writes, invalid UTF-8 included, so that text
// reads the same whichever of the two wrote it.
#include <skulk/json_text.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace {

using json = nlohmann::json;

std::string oracle(const std::string &s) { return json(s).dump(-1, ' ', false, json::error_handler_t::replace); }

std::string escaped(const std::string &s) {
    std::string out;
    skulk::append_json_string(out, s);
    return out;
}

TEST(JsonText, EveryStringOfOneOrTwoBytesMatchesNlohmann) {
    for (int a = 0; a < 256; ++a) {
        const std::string one(1, char(a));
        ASSERT_EQ(escaped(one), oracle(one)) << "byte " << a;
        for (int b = 0; b < 256; ++b) {
            const std::string two{char(a), char(b)};
            ASSERT_EQ(escaped(two), oracle(two)) << "bytes " << a << " " << b;
        }
    }
}

// Every 4-byte string over the bytes where UTF-8's rules change (ASCII and
// escapes, continuation-range edges, lead bytes that are never valid, the
// leads whose second byte is restricted: E0 ED F0 F4), so truncated,
// overlong, surrogate and out-of-range sequences meet each other.
TEST(JsonText, EveryFourByteStringOfBoundaryBytesMatchesNlohmann) {
    const std::vector<unsigned char> edge = {0x00, 0x1F, 0x22, 0x41, 0x5C, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0,
                                             0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xED, 0xEF, 0xF0, 0xF1, 0xF4, 0xF5, 0xFF};
    std::string s(4, '\0');
    for (unsigned char a : edge)
        for (unsigned char b : edge)
            for (unsigned char c : edge)
                for (unsigned char d : edge) {
                    s[0] = char(a), s[1] = char(b), s[2] = char(c), s[3] = char(d);
                    ASSERT_EQ(escaped(s), oracle(s)) << std::hex << int(a) << " " << int(b) << " " << int(c) << " " << int(d);
                }
}

TEST(JsonText, ValidTextRoundTripsAndAppendsToWhatIsThere) {
    const std::string text = "caf\xC3\xA9 \xF0\x9F\xA6\x8A \"q\" \\ \n\t\x01";
    std::string out = "x:";
    skulk::append_json_string(out, text);
    ASSERT_EQ(out.substr(0, 2), "x:");
    EXPECT_EQ(json::parse(out.substr(2)).get<std::string>(), text);
    // One U+FFFD per ill-formed piece: a truncated character is one piece.
    EXPECT_EQ(json::parse(escaped("a\xE2\x82" "b")).get<std::string>(), "a\xEF\xBF\xBD" "b");
    EXPECT_EQ(json::parse(escaped("\xFF\xFE")).get<std::string>(), "\xEF\xBF\xBD\xEF\xBF\xBD");
}

} // namespace
