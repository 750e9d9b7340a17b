#include "tokenizer/pretokenizer.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdexcept>

namespace skulk::model {

namespace {

// The regex lists of llama.cpp's llm_tokenizer_bpe (b4748).
const char *const kGpt2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const char *const kLlama3 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char *const kQwen2 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

std::vector<std::string> regexes_for(PreType t) {
    switch (t) {
    case PreType::llama3: return {kLlama3};
    case PreType::qwen2: return {kQwen2};
    case PreType::deepseek_llm:
        return {
            "[\\r\\n]",
            // Written with \\x{...} where a character has a canonical
            // equivalent that editors normalise (U+1F7D, U+1FD3, U+1FDB, U+1FBE, U+2126, U+212A).
            "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-\\x{1F7D}ᾀ-ᾴᾶ-ᾼ\\x{1FBE}ῂ-ῄῆ-ῌῐ-\\x{1FD3}ῖ-\\x{1FDB}ῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\\x{2126}ℨ\\x{212A}-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
            "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
            "\\s+$",
            "[一-龥ࠀ-一가-퟿]+",
            "\\p{N}+",
        };
    case PreType::deepseek_coder:
        return {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[一-龥ࠀ-一가-퟿]+", "\\p{N}"};
    case PreType::falcon:
        return {"[\\p{P}\\$\\+<=>\\^~\\|`]+", kGpt2, "[0-9][0-9][0-9]"};
    case PreType::starcoder:
    case PreType::refact: return {"\\p{N}", kGpt2};
    case PreType::gpt2:
    case PreType::mpt: return {kGpt2};
    case PreType::default_:
        return {"[\\p{P}\\$\\+<=>\\^~\\|]+", kGpt2, "\\p{N}+", "[0-9][0-9][0-9]"};
    }
    return {kGpt2};
}

} // namespace

PreTokenizer::PreTokenizer(PreType type) {
    for (const std::string &re : regexes_for(type)) {
        int err = 0;
        PCRE2_SIZE off = 0;
        pcre2_code *c = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(re.c_str()), re.size(),
                                      PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &off, nullptr);
        if (!c) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(err, msg, sizeof msg);
            throw std::logic_error("pre-tokenizer regex failed to compile at " + std::to_string(off) + ": " +
                                   reinterpret_cast<char *>(msg));
        }
        pcre2_jit_compile(c, PCRE2_JIT_COMPLETE); // optional speed-up; falls back to the interpreter
        codes_.push_back(c);
    }
}

PreTokenizer::~PreTokenizer() {
    for (auto *c : codes_) pcre2_code_free(c);
}

void PreTokenizer::split(std::string_view text, std::vector<std::pair<size_t, size_t>> &words) const {
    words.clear();
    if (text.empty()) return;
    words.emplace_back(0, text.size());
    std::vector<std::pair<size_t, size_t>> next;
    for (pcre2_code *code : codes_) {
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(code, nullptr);
        next.clear();
        for (auto [start, len] : words) {
            // The fragment alone is the subject: lookaheads and `$` stop at
            // its end, as in llama.cpp's per-fragment matching.
            auto subject = reinterpret_cast<PCRE2_SPTR>(text.data() + start);
            size_t pos = 0, prev = 0;
            while (pos < len) {
                int rc = pcre2_match(code, subject, len, pos, 0, md, nullptr);
                if (rc < 0) break;
                PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
                size_t ms = ov[0], me = ov[1];
                if (me == ms) { // empty match: step over one character
                    pos = ms + 1;
                    while (pos < len && (static_cast<uint8_t>(text[start + pos]) & 0xC0) == 0x80) ++pos;
                    continue;
                }
                if (ms > prev) next.emplace_back(start + prev, ms - prev);
                next.emplace_back(start + ms, me - ms);
                prev = pos = me;
            }
            if (prev < len) next.emplace_back(start + prev, len - prev);
        }
        pcre2_match_data_free(md);
        words.swap(next);
    }
}

} // namespace skulk::model
