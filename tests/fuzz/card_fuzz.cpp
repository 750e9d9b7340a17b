// libFuzzer target: arbitrary text as a TOML model card (custom cards come
// from API clients and the replicated State). Only CardError may come out;
// a card that parses must survive card_to_toml -> parse unchanged.
#include "cards/card_parser.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    using namespace skulk::cards;
    const std::string_view text(reinterpret_cast<const char *>(data), size);
    ParsedCard parsed;
    try {
        parsed = parse_card_text(text, "fuzz.toml", "/cards");
    } catch (const CardError &) {
        return 0;
    }
    const std::string once = card_to_toml(parsed.card);
    try {
        const std::string twice = card_to_toml(parse_card_text(once, "fuzz-again.toml", "/cards").card);
        if (twice != once) std::abort(); // the writer and the reader disagree
    } catch (const CardError &) {
        std::abort(); // a card we wrote does not read back
    }
    return 0;
}
