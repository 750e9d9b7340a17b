// Pre-tokenizer splits for the families without reference vectors in
// shared/ (llama3, qwen2), derived by hand from their regexes.
#include "tokenizer/pretokenizer.hpp"

#include <gtest/gtest.h>

using namespace skulk::model;

namespace {
std::vector<std::string> split(PreType t, std::string_view text) {
    PreTokenizer p(t);
    std::vector<std::pair<size_t, size_t>> words;
    p.split(text, words);
    std::vector<std::string> out;
    for (auto [o, n] : words) out.emplace_back(text.substr(o, n));
    return out;
}
using V = std::vector<std::string>;
} // namespace

TEST(PreTokenizer, Llama3GroupsDigitsByThree) {
    EXPECT_EQ(split(PreType::llama3, "12345"), (V{"123", "45"}));
    EXPECT_EQ(split(PreType::llama3, "I'm here"), (V{"I", "'m", " here"}));
    EXPECT_EQ(split(PreType::llama3, "I'M"), (V{"I", "'M"})); // case-insensitive contractions
    EXPECT_EQ(split(PreType::llama3, "a\n\nb"), (V{"a", "\n\n", "b"}));
    EXPECT_EQ(split(PreType::llama3, "x  y"), (V{"x", " ", " y"})); // \s+(?!\S) leaves the last space to the word
    EXPECT_EQ(split(PreType::llama3, "hi!!\n"), (V{"hi", "!!\n"}));
}

TEST(PreTokenizer, Qwen2SplitsEveryDigit) {
    EXPECT_EQ(split(PreType::qwen2, "12345"), (V{"1", "2", "3", "4", "5"}));
    EXPECT_EQ(split(PreType::qwen2, "Hello, world"), (V{"Hello", ",", " world"}));
    EXPECT_EQ(split(PreType::qwen2, "日本語 text"), (V{"日本語", " text"}));
}

TEST(PreTokenizer, Gpt2) {
    EXPECT_EQ(split(PreType::gpt2, "Hello world's 42!"), (V{"Hello", " world", "'s", " 42", "!"}));
    EXPECT_EQ(split(PreType::gpt2, ""), V{});
}
