#include "tokenizer/vocab.hpp"

#include "tokenizer/pretokenizer.hpp"
#include "tokenizer/unicode.hpp"
#include "skulk/utf8.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace skulk::model {

namespace {

// GGUF token types (llama_token_type).
uint32_t attr_from_type(int64_t t) {
    switch (t) {
    case 1: return attr_normal;
    case 2: return attr_unknown;
    case 3: return attr_control;
    case 4: return attr_user_defined;
    case 5: return attr_unused;
    case 6: return attr_byte;
    default: return attr_undefined;
    }
}

std::string lower(std::string s) {
    for (char &c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

struct PreInfo {
    PreType type;
    bool ignore_merges = false;
    bool add_bos = false;
    bool clean_spaces = true;
};

// tokenizer.ggml.pre -> family (llama.cpp llama_vocab::impl::load).
std::optional<PreInfo> pre_info(const std::string &pre) {
    if (pre.empty() || pre == "default") return PreInfo{PreType::default_};
    if (pre == "llama3" || pre == "llama-v3" || pre == "llama-bpe" || pre == "falcon3")
        return PreInfo{PreType::llama3, true, true};
    if (pre == "deepseek-llm") return PreInfo{PreType::deepseek_llm, false, false, false};
    if (pre == "deepseek-coder") return PreInfo{PreType::deepseek_coder, false, false, false};
    if (pre == "falcon") return PreInfo{PreType::falcon};
    if (pre == "mpt") return PreInfo{PreType::mpt};
    if (pre == "starcoder") return PreInfo{PreType::starcoder};
    if (pre == "gpt-2" || pre == "phi-2" || pre == "jina-es" || pre == "jina-de" || pre == "gigachat" ||
        pre == "jina-v1-en" || pre == "jina-v2-es" || pre == "jina-v2-de" || pre == "jina-v2-code" ||
        pre == "roberta-bpe")
        return PreInfo{PreType::gpt2};
    if (pre == "refact") return PreInfo{PreType::refact};
    if (pre == "qwen2" || pre == "stablelm2" || pre == "deepseek-r1-qwen") return PreInfo{PreType::qwen2, false, false, false};
    if (pre == "smollm" || pre == "codeshell" || pre == "command-r") return PreInfo{PreType::starcoder};
    return std::nullopt;
}

} // namespace

Vocab::~Vocab() = default;

std::unique_ptr<Vocab> Vocab::from_gguf(const GgufFile &f) {
    std::unique_ptr<Vocab> v(new Vocab());
    v->label_ = f.path().filename().string();
    auto model = f.get_string("tokenizer.ggml.model");
    if (!model) f.fail("missing required metadata 'tokenizer.ggml.model'");
    const GgufValue *toks = f.find("tokenizer.ggml.tokens");
    if (!toks || !toks->is_array() || toks->array_type() != GgufValueType::string)
        f.fail("missing or malformed 'tokenizer.ggml.tokens' (want an array of strings)");
    const size_t n = toks->array_size();
    if (n == 0 || n > static_cast<size_t>(INT32_MAX)) f.fail("'tokenizer.ggml.tokens' is empty or too large");

    if (*model == "llama") {
        v->type_ = VocabType::spm;
        v->bos_ = 1, v->eos_ = 2, v->unk_ = 0;
        v->add_space_prefix_ = true;
        v->add_bos_ = true;
    } else if (*model == "gpt2") {
        v->type_ = VocabType::bpe;
        v->bos_ = 11, v->eos_ = 11;
    } else if (*model == "bert") {
        v->type_ = VocabType::wpm;
        v->bos_ = 101, v->unk_ = 100, v->sep_ = 102, v->pad_ = 0;
        v->add_bos_ = true;
        v->add_sep_ = true;
    } else {
        f.fail(fmt::format("unsupported tokenizer model '{}' in 'tokenizer.ggml.model' (supported: llama, gpt2, bert)",
                           *model));
    }

    const GgufValue *scores = f.find("tokenizer.ggml.scores");
    const GgufValue *types = f.find("tokenizer.ggml.token_type");
    if (scores && (!scores->is_array() || scores->array_size() != n || !scores->elem_f64(0)))
        f.fail(fmt::format("'tokenizer.ggml.scores' must be an array of {} numbers", n));
    if (types && (!types->is_array() || types->array_size() != n || !types->elem_i64(0)))
        f.fail(fmt::format("'tokenizer.ggml.token_type' must be an array of {} integers", n));

    v->tokens_.resize(n);
    v->token_to_id_.reserve(n);
    for (size_t i = 0; i < n; ++i) {
        TokenData &t = v->tokens_[i];
        t.text = std::string(toks->strings()[i]);
        t.score = scores ? static_cast<float>(*scores->elem_f64(i)) : 0.0f;
        t.attr = types ? attr_from_type(*types->elem_i64(i)) : attr_normal;
        v->max_token_len_ = std::max(v->max_token_len_, t.text.size());
        v->token_to_id_.emplace(t.text, static_cast<int32_t>(i)); // first wins on duplicates
    }

    if (v->type_ == VocabType::bpe) {
        const GgufValue *merges = f.find("tokenizer.ggml.merges");
        if (!merges || !merges->is_array() || merges->array_type() != GgufValueType::string)
            f.fail("a gpt2 tokenizer needs 'tokenizer.ggml.merges' (an array of strings)");
        v->bpe_ranks_.reserve(merges->array_size());
        for (size_t i = 0; i < merges->array_size(); ++i) {
            std::string_view m = merges->strings()[i];
            size_t sp = m.find(' ', 1);
            if (sp == std::string_view::npos) f.fail(fmt::format("'tokenizer.ggml.merges'[{}] has no space", i));
            v->bpe_ranks_.emplace(std::string(m), static_cast<int>(i));
        }
        auto pre = f.get_string("tokenizer.ggml.pre").value_or("default");
        auto info = pre_info(pre);
        if (!info) f.fail(fmt::format("unsupported pre-tokenizer '{}' in 'tokenizer.ggml.pre'", pre));
        v->pre_type_ = info->type;
        v->ignore_merges_ = info->ignore_merges;
        v->add_bos_ = info->add_bos;
        v->clean_spaces_ = info->clean_spaces;
        v->add_space_prefix_ = false;
    }
    v->pre_ = std::make_unique<PreTokenizer>(v->pre_type_);

    if (auto b = f.get_bool("tokenizer.ggml.add_space_prefix")) v->add_space_prefix_ = *b;
    auto id_key = [&](const char *key, int32_t &dst) {
        const GgufValue *v = f.find(key);
        if (!v) return;
        auto id = v->as_i64();
        if (!v->is_integer() || !id) f.fail(fmt::format("'{}' should be a token id (an integer)", key));
        if (*id < 0) { // some converters write -1 for "none"
            dst = kNull;
            return;
        }
        if (static_cast<uint64_t>(*id) >= n)
            f.fail(fmt::format("'{}' = {} is not a token id (vocabulary of {})", key, *id, n));
        dst = static_cast<int32_t>(*id);
    };
    id_key("tokenizer.ggml.bos_token_id", v->bos_);
    id_key("tokenizer.ggml.eos_token_id", v->eos_);
    id_key("tokenizer.ggml.eot_token_id", v->eot_);
    id_key("tokenizer.ggml.eom_token_id", v->eom_);
    id_key("tokenizer.ggml.unknown_token_id", v->unk_);
    id_key("tokenizer.ggml.seperator_token_id", v->sep_);
    id_key("tokenizer.ggml.padding_token_id", v->pad_);
    if (auto b = f.get_bool("tokenizer.ggml.add_bos_token")) v->add_bos_ = *b;
    if (auto b = f.get_bool("tokenizer.ggml.add_eos_token")) v->add_eos_ = *b;
    for (int32_t *id : {&v->bos_, &v->eos_, &v->unk_, &v->sep_, &v->pad_})
        if (*id >= static_cast<int32_t>(n)) *id = kNull; // a default that does not exist in this vocab

    // End-of-turn markers llama.cpp recognises by text when no key names them.
    static const char *const kEot[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
                                       "<EOT>", "_<EOT>", "<｜end▁of▁sentence｜>"};
    if (v->eot_ == kNull)
        for (const char *t : kEot)
            if (int32_t id = v->find(t); id >= 0) {
                v->eot_ = id;
                break;
            }
    for (int32_t id : {v->eos_, v->eot_, v->eom_})
        if (id != kNull) v->eog_.push_back(id);
    static const char *const kEog[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
                                       "<|eom_id|>", "<EOT>", "_<EOT>"};
    for (const char *t : kEog)
        if (int32_t id = v->find(t); id >= 0 && (v->tokens_[id].attr & attr_control)) v->eog_.push_back(id);

    // Phi-3 strips whitespace after its special tokens (llama.cpp sets RSTRIP
    // by model name).
    std::string name = lower(f.get_string("general.name").value_or(""));
    bool phi3 = name.find("phi-3") != std::string::npos || name.find("phi3") != std::string::npos;

    for (size_t i = 0; i < n; ++i)
        if (v->tokens_[i].attr & (attr_control | attr_user_defined | attr_unknown))
            v->special_tokens_.push_back(static_cast<int32_t>(i));
    if (phi3) {
        for (int32_t id : v->special_tokens_) v->tokens_[id].attr |= attr_rstrip;
        if (int32_t id = v->find("</s>"); id >= 0) v->tokens_[id].attr |= attr_rstrip;
        for (const char *t : {"<unk>", "<s>", "<|endoftext|>"})
            if (int32_t id = v->find(t); id >= 0) v->tokens_[id].attr &= ~attr_rstrip;
    }
    std::stable_sort(v->special_tokens_.begin(), v->special_tokens_.end(), [&](int32_t a, int32_t b) {
        return v->tokens_[a].text.size() > v->tokens_[b].text.size();
    });
    return v;
}

int32_t Vocab::find(std::string_view text) const {
    auto it = token_to_id_.find(text);
    return it == token_to_id_.end() ? kNull : it->second;
}

int Vocab::bpe_rank(std::string_view left, std::string_view right, std::string &scratch) const {
    scratch.assign(left);
    scratch += ' ';
    scratch += right;
    auto it = bpe_ranks_.find(std::string_view(scratch));
    return it == bpe_ranks_.end() ? -1 : it->second;
}

int32_t Vocab::byte_to_token(uint8_t b) const {
    if (type_ == VocabType::spm) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "<0x%02X>", b);
        if (int32_t id = find(buf); id >= 0) return id;
        // Vocabularies without byte tokens may still hold the byte itself.
        if (int32_t id = find(std::string_view(reinterpret_cast<const char *>(&b), 1)); id >= 0) return id;
        throw TokenizeError(fmt::format("{}: byte 0x{:02X} cannot be tokenized (no <0x{:02X}> token)", label_, b, b));
    }
    if (int32_t id = find(unicode::byte_to_utf8(b)); id >= 0) return id;
    throw TokenizeError(fmt::format("{}: byte 0x{:02X} has no token", label_, b));
}

bool Vocab::is_eog(int32_t id) const {
    return id != kNull && std::find(eog_.begin(), eog_.end(), id) != eog_.end();
}

void Vocab::tokenize_text(std::string_view text, bool after_special, std::vector<int32_t> &out) const {
    switch (type_) {
    case VocabType::spm: {
        // SentencePiece marks spaces with U+2581 and, by default, prefixes the
        // text (and text that follows a special token) with one.
        std::string escaped;
        escaped.reserve(text.size() * 2 + 3);
        if (add_space_prefix_ && after_special) escaped += "\xE2\x96\x81";
        for (char c : text) {
            if (c == ' ') escaped += "\xE2\x96\x81";
            else escaped += c;
        }
        tokenize_spm(*this, escaped, out);
        break;
    }
    case VocabType::bpe: tokenize_bpe(*this, text, out); break;
    case VocabType::wpm: tokenize_wpm(*this, text, out); break;
    }
}

std::vector<int32_t> Vocab::tokenize(std::string_view text, bool add_special, bool parse_special) const {
    // 1. Cut the text around special tokens (llama.cpp tokenizer_st_partition):
    //    control/unknown tokens only when parse_special, user-defined always.
    struct Fragment {
        int32_t token; // kNull: raw text
        size_t off, len;
    };
    std::vector<Fragment> frags;
    if (!text.empty()) frags.push_back({kNull, 0, text.size()});
    std::vector<Fragment> next;
    for (int32_t id : special_tokens_) {
        const TokenData &tok = tokens_[id];
        if (!parse_special && (tok.attr & (attr_control | attr_unknown))) continue;
        if (tok.text.empty()) continue;
        next.clear();
        bool changed = false;
        for (const Fragment &fr : frags) {
            if (fr.token != kNull) {
                next.push_back(fr);
                continue;
            }
            size_t base = fr.off, end = fr.off + fr.len;
            while (base < end) {
                size_t m = text.substr(0, end).find(tok.text, base);
                if (m == std::string_view::npos) break;
                changed = true;
                size_t left_len = m - base;
                if (tok.attr & attr_lstrip)
                    while (left_len > 0 && std::isspace(static_cast<unsigned char>(text[base + left_len - 1])))
                        --left_len;
                if (left_len > 0) next.push_back({kNull, base, left_len});
                next.push_back({id, m, tok.text.size()});
                base = m + tok.text.size();
                if (tok.attr & attr_rstrip)
                    while (base < end && std::isspace(static_cast<unsigned char>(text[base]))) ++base;
            }
            if (base < end) next.push_back({kNull, base, end - base});
        }
        if (changed) frags.swap(next);
    }

    // 2. Tokenize the text fragments; add BOS/EOS (or CLS/SEP) as configured.
    std::vector<int32_t> out;
    out.reserve(text.size() / 2 + 4);
    if (add_special && add_bos_ && bos_ != kNull) out.push_back(bos_);
    bool after_special = true; // the start of the text counts as "after a special token"
    for (const Fragment &fr : frags) {
        if (fr.token != kNull) {
            out.push_back(fr.token);
            after_special = true;
        } else {
            tokenize_text(text.substr(fr.off, fr.len), after_special, out);
            after_special = false;
        }
    }
    if (add_special && add_sep_ && sep_ != kNull) out.push_back(sep_);
    if (add_special && add_eos_ && eos_ != kNull) out.push_back(eos_);
    return out;
}

void Vocab::append_piece(int32_t id, std::string &out, bool special) const {
    if (!valid(id)) return;
    const TokenData &t = tokens_[id];
    const uint32_t a = t.attr;
    if (!special && (a & attr_control)) return;
    if (a & (attr_control | attr_unknown | attr_user_defined)) {
        out += t.text;
        return;
    }
    if (type_ == VocabType::bpe) {
        if (!(a & attr_normal)) return;
        auto cpts = utf8::decode(t.text);
        for (uint32_t c : cpts) {
            int b = unicode::utf8_to_byte(c);
            if (b >= 0) out += static_cast<char>(b);
            else utf8::append(out, c);
        }
        return;
    }
    if (a & attr_normal) {
        // U+2581 stands for a space.
        const std::string &s = t.text;
        for (size_t i = 0; i < s.size();) {
            if (s.compare(i, 3, "\xE2\x96\x81") == 0) {
                out += ' ';
                i += 3;
            } else {
                out += s[i++];
            }
        }
        return;
    }
    if (a & attr_byte) {
        // "<0xNN>"
        unsigned v = 0;
        if (t.text.size() == 6 && std::from_chars(t.text.data() + 3, t.text.data() + 5, v, 16).ec == std::errc())
            out += static_cast<char>(v);
    }
}

std::string Vocab::token_to_piece(int32_t id, bool special) const {
    std::string s;
    append_piece(id, s, special);
    return s;
}

namespace {
// llama.cpp's clean_up_tokenization_spaces for BPE vocabularies that ask for
// it: " ?" " !" " ." " ," lose the space, " ' " becomes "'", and " 's" " 'm"
// " 're" " 've" lose the space.
std::string clean_spaces(const std::string &in) {
    std::string a;
    for (size_t i = 0; i < in.size(); ++i) {
        char x = in[i];
        if (i > 0 && !a.empty() && a.back() == ' ' && in[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ','))
            a.pop_back();
        a += x;
    }
    std::string b;
    for (size_t i = 0; i < a.size(); ++i) {
        char x = a[i];
        if (i > 0 && x == '\'' && i + 1 < a.size() && a[i - 1] == ' ' && a[i + 1] == ' ') {
            b.pop_back();
            b += x;
            ++i; // drop the space after
            continue;
        }
        b += x;
    }
    std::string c;
    for (size_t i = 0; i < b.size(); ++i) {
        char x = b[i];
        if (i > 0 && b[i - 1] == ' ' && x == '\'' && i + 1 < b.size()) {
            char x1 = b[i + 1];
            char x2 = i + 2 < b.size() ? b[i + 2] : '\0';
            if (x1 == 's' || x1 == 'm' || (x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')) c.pop_back();
        }
        c += x;
    }
    return c;
}
} // namespace

std::string Vocab::detokenize(const std::vector<int32_t> &ids, bool remove_special) const {
    // As llama_detokenize(remove_special, unparse_special = !remove_special):
    // the SentencePiece leading space goes only when there was no BOS to drop.
    size_t b = 0, e = ids.size();
    bool remove_space = add_space_prefix_;
    if (remove_special && add_bos_ && e > b && ids[b] == bos_) {
        remove_space = false;
        ++b;
    }
    if (remove_special && add_eos_ && e > b && ids[e - 1] == eos_) --e;
    std::string out;
    for (size_t i = b; i < e; ++i) {
        size_t before = out.size();
        append_piece(ids[i], out, !remove_special);
        if (remove_space && out.size() > before && out[before] == ' ') out.erase(before, 1);
        remove_space = false;
    }
    return clean_spaces_ ? clean_spaces(out) : out;
}

std::string StreamDecoder::push(int32_t token) {
    std::string out;
    push(token, out);
    return out;
}

void StreamDecoder::push(int32_t token, std::string &out) {
    vocab_.append_piece(token, pending_, special_);
    size_t done = utf8::complete_prefix(pending_);
    utf8::append_sanitized(out, std::string_view(pending_).substr(0, done));
    pending_.erase(0, done);
}

std::string StreamDecoder::flush() {
    std::string out;
    utf8::append_sanitized(out, pending_);
    pending_.clear();
    return out;
}

} // namespace skulk::model
