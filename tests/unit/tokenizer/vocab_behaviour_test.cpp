// Tokenizer behaviour beyond the reference vectors: special-token parsing,
// EOG detection, streaming detokenization of split UTF-8 characters.
#include "gguf/gguf.hpp"
#include "tokenizer/unicode.hpp"
#include "tokenizer/vocab.hpp"
#include "unit/test_paths.hpp"
#include "skulk/utf8.hpp"

#include <gtest/gtest.h>

#include <algorithm>

using namespace skulk::model;
using skulk::test::shared_dir;

namespace {
std::unique_ptr<Vocab> load(const std::string &name) {
    auto f = GgufFile::open(shared_dir() / "models" / "vocab" / name);
    return Vocab::from_gguf(*f);
}
bool valid_utf8(const std::string &s) {
    std::string clean;
    skulk::utf8::append_sanitized(clean, s);
    return clean == s;
}
} // namespace

TEST(VocabBehaviour, ParseSpecialOnlyWhenAsked) {
    auto v = load("ggml-vocab-phi-3.gguf");
    int32_t user = v->find("<|user|>");
    int32_t end = v->find("<|end|>");
    ASSERT_GE(user, 0);
    ASSERT_GE(end, 0);
    const std::string text = "<|user|>\nHi<|end|>";
    auto with = v->tokenize(text, false, true);
    EXPECT_EQ(with.front(), user);
    EXPECT_EQ(with.back(), end);
    // Phi-3's specials strip the whitespace that follows them (RSTRIP), so
    // the "\n" after <|user|> is gone: the next token spells "Hi" with the
    // SentencePiece word-start marker.
    EXPECT_EQ(v->token_to_piece(with[1]), " Hi");
    if (v->attr(user) & attr_control) {
        auto without = v->tokenize(text, false, false);
        EXPECT_EQ(std::count(without.begin(), without.end(), user), 0);
    }
    EXPECT_TRUE(v->is_eog(v->eos()));
    EXPECT_TRUE(v->is_eog(end));
    EXPECT_FALSE(v->is_eog(user));
}

TEST(VocabBehaviour, BosEosAndControlPieces) {
    auto v = load("ggml-vocab-llama-spm.gguf");
    EXPECT_EQ(v->bos(), 1);
    EXPECT_EQ(v->eos(), 2);
    auto ids = v->tokenize("Hello", true, false);
    ASSERT_GE(ids.size(), 2u);
    EXPECT_EQ(ids[0], 1);
    EXPECT_EQ(v->token_to_piece(1, true), "<s>");
    EXPECT_EQ(v->token_to_piece(1, false), "");
    EXPECT_EQ(v->detokenize(ids, true), " Hello");
    // "<s>" typed by a user is text unless parse_special.
    auto literal = v->tokenize("<s>", false, false);
    EXPECT_EQ(std::count(literal.begin(), literal.end(), 1), 0);
    EXPECT_EQ(v->tokenize("<s>", false, true), std::vector<int32_t>{1});
}

TEST(VocabBehaviour, StreamDecoderNeverSplitsCharacters) {
    // stories260K has only 512 tokens, so CJK text is spelled byte by byte.
    auto f = GgufFile::open(shared_dir() / "models" / "stories260K.gguf");
    auto v = Vocab::from_gguf(*f);
    const std::string text = "Hi 日本語 ok 🙂!";
    auto ids = v->tokenize(text, false, false);
    ASSERT_GT(ids.size(), text.size() / 2); // byte fallback happened
    StreamDecoder dec(*v);
    std::string all;
    int held = 0;
    for (int32_t id : ids) {
        std::string chunk = dec.push(id);
        EXPECT_TRUE(valid_utf8(chunk)) << "token " << id;
        if (chunk.empty()) ++held;
        all += chunk;
    }
    all += dec.flush();
    EXPECT_GT(held, 0); // some bytes had to wait for the rest of their character
    EXPECT_EQ(all, " " + text); // SentencePiece's leading space
}

TEST(VocabBehaviour, StreamDecoderFlushesBrokenTail) {
    auto f = GgufFile::open(shared_dir() / "models" / "stories260K.gguf");
    auto v = Vocab::from_gguf(*f);
    int32_t e6 = v->find("<0xE6>"); // first byte of a 3-byte character
    ASSERT_GE(e6, 0);
    StreamDecoder dec(*v);
    EXPECT_EQ(dec.push(e6), "");
    EXPECT_EQ(dec.flush(), "\xEF\xBF\xBD");
    // An invalid byte in the middle is replaced, not passed through.
    int32_t ff = v->find("<0xFF>");
    int32_t a = v->find("a");
    ASSERT_GE(ff, 0);
    ASSERT_GE(a, 0);
    EXPECT_EQ(dec.push(ff) + dec.push(a), "\xEF\xBF\xBD" "a");
}

TEST(VocabBehaviour, UnspellableTextIsAClearError) {
    // TinyStories-656K has no byte tokens (SOURCES.md).
    auto f = GgufFile::open(shared_dir() / "models" / "TinyStories-656K-f32.gguf");
    auto v = Vocab::from_gguf(*f);
    EXPECT_FALSE(v->tokenize("Once upon a time", true, false).empty());
    try {
        v->tokenize("日本", false, false);
        FAIL() << "no error";
    } catch (const TokenizeError &e) {
        EXPECT_NE(std::string(e.what()).find("TinyStories-656K-f32.gguf"), std::string::npos) << e.what();
    }
}

TEST(VocabBehaviour, ModelWithoutTokenizerIsAClearError) {
    auto f = GgufFile::from_memory(std::string("GGUF\x03\0\0\0", 8) + std::string(16, '\0'), "empty.gguf");
    try {
        Vocab::from_gguf(*f);
        FAIL();
    } catch (const GgufError &e) {
        EXPECT_NE(std::string(e.what()).find("empty.gguf: missing required metadata 'tokenizer.ggml.model'"),
                  std::string::npos)
            << e.what();
    }
}
