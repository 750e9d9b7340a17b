// WordPiece (BERT; llama.cpp llm_tokenizer_wpm): NFD, lower-case, split on
// whitespace and around punctuation / CJK characters, then greedily take the
// longest vocabulary entry from the left of each word ("▁" marks a word
// start in GGUF BERT vocabularies).
#include "tokenizer/unicode.hpp"
#include "tokenizer/vocab.hpp"
#include "skulk/utf8.hpp"

namespace skulk::model {

namespace {

bool is_chinese_char(uint32_t c) {
    return (c >= 0x04E00 && c <= 0x09FFF) || (c >= 0x03400 && c <= 0x04DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0x0F900 && c <= 0x0FAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

std::vector<std::string> preprocess(std::string_view text) {
    std::vector<uint32_t> cpts = unicode::nfd(utf8::decode(text));
    std::vector<std::string> words(1);
    for (uint32_t c : cpts) {
        unicode::CptFlags f = unicode::flags(c);
        if (f.whitespace) {
            if (!words.back().empty()) words.emplace_back();
            continue;
        }
        if (c == 0 || c == 0xFFFD || f.control || f.mark) continue; // BERT strips accents after NFD
        std::string s;
        utf8::append(s, unicode::to_lower(c));
        if (f.punctuation || (c < 0x7F && f.symbol) || is_chinese_char(c)) {
            if (!words.back().empty()) words.emplace_back();
            words.back() = s;
            words.emplace_back();
        } else {
            words.back() += s;
        }
    }
    if (words.back().empty()) words.pop_back();
    return words;
}

} // namespace

void tokenize_wpm(const Vocab &vocab, std::string_view text, std::vector<int32_t> &out) {
    for (const std::string &word : preprocess(text)) {
        if (word.empty()) continue;
        const std::string w = "\xE2\x96\x81" + word;
        const size_t n = w.size();
        const size_t before = out.size();
        for (size_t i = 0; i < n; ++i) {
            bool match = false;
            for (size_t j = std::min(n, i + vocab.max_token_len() + 1); j > i; --j) {
                int32_t id = vocab.find(std::string_view(w).substr(i, j - i));
                if (id >= 0) {
                    out.push_back(id);
                    match = true;
                    i = j - 1;
                    break;
                }
            }
            if (!match) { // the word cannot be spelled: drop what we had of it
                out.resize(before);
                break;
            }
        }
        if (out.size() == before) out.push_back(vocab.unk());
    }
}

} // namespace skulk::model
