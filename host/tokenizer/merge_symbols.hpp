// The symbol list both merge tokenizers (SentencePiece, byte-level BPE) work
// on: a doubly linked list over the text's UTF-8 characters, in which a
// merge grows the left symbol and unlinks the right one. Each tokenizer keeps
// its own priority (score or rank) and its own test for a stale bigram.
#pragma once

#include "tokenizer/unicode.hpp"
#include "skulk/utf8.hpp"

#include <algorithm>
#include <string_view>
#include <vector>

namespace skulk::model {

struct MergeSymbol {
    int prev, next;   // list neighbours, -1 at the ends
    const char *text; // into the text being tokenized
    size_t n;         // bytes; 0 once merged into its left neighbour
};

// One symbol per UTF-8 character of `text` (a truncated last character
// keeps the bytes that are there).
inline void split_utf8_symbols(std::string_view text, std::vector<MergeSymbol> &symbols) {
    symbols.clear();
    for (size_t offs = 0; offs < text.size();) {
        const size_t len = std::min(text.size() - offs, utf8::sequence_length(text[offs]));
        const int idx = static_cast<int>(symbols.size());
        symbols.push_back({idx - 1, offs + len == text.size() ? -1 : idx + 1, text.data() + offs, len});
        offs += len;
    }
}

// Merges symbol `right` into `left` (its next neighbour).
inline void merge_symbols(std::vector<MergeSymbol> &symbols, int left, int right) {
    MergeSymbol &l = symbols[left];
    MergeSymbol &r = symbols[right];
    l.n += r.n;
    r.n = 0;
    l.next = r.next;
    if (r.next >= 0) symbols[r.next].prev = left;
}

} // namespace skulk::model
