// Byte-level BPE (llama.cpp llm_tokenizer_bpe): pre-tokenize with the
// vocabulary's regexes, map every byte to GPT-2's printable code point, then
// merge adjacent symbols by lowest merge rank within each word.
#include "tokenizer/pretokenizer.hpp"
#include "tokenizer/merge_symbols.hpp"
#include "tokenizer/unicode.hpp"
#include "tokenizer/vocab.hpp"

#include <queue>

namespace skulk::model {

namespace {

using Symbol = MergeSymbol;
struct Bigram {
    int left, right;
    int rank;
    size_t size;
    std::string text;
};
struct BigramGreater {
    bool operator()(const Bigram &l, const Bigram &r) const {
        return l.rank > r.rank || (l.rank == r.rank && l.left > r.left);
    }
};

class BpeWord {
public:
    BpeWord(const Vocab &v, std::vector<int32_t> &out) : vocab_(v), out_(out) {}

    void run(const std::string &word) {
        if (vocab_.ignore_merges()) {
            int32_t id = vocab_.find(word);
            if (id >= 0) {
                out_.push_back(id);
                return;
            }
        }
        split_utf8_symbols(word, symbols_);
        for (size_t i = 1; i < symbols_.size(); ++i) try_add(static_cast<int>(i) - 1, static_cast<int>(i));
        while (!queue_.empty()) {
            Bigram b = queue_.top();
            queue_.pop();
            Symbol &l = symbols_[b.left];
            Symbol &r = symbols_[b.right];
            if (l.n == 0 || r.n == 0) continue;
            if (std::string_view(l.text, l.n + r.n) != b.text) continue; // outdated
            merge_symbols(symbols_, b.left, b.right);
            try_add(l.prev, b.left);
            try_add(b.left, l.next);
        }
        for (int i = 0; i != -1 && !symbols_.empty(); i = symbols_[i].next) {
            const Symbol &s = symbols_[i];
            if (s.n == 0) continue;
            std::string_view text(s.text, s.n);
            int32_t id = vocab_.find(text);
            if (id >= 0) {
                out_.push_back(id);
                continue;
            }
            // Not a token: each byte of the (already byte-mapped) text alone.
            for (char c : text) {
                int32_t b = vocab_.find(std::string_view(&c, 1));
                if (b >= 0) out_.push_back(b);
            }
        }
    }

private:
    void try_add(int left, int right) {
        if (left == -1 || right == -1) return;
        std::string_view l(symbols_[left].text, symbols_[left].n);
        std::string_view r(symbols_[right].text, symbols_[right].n);
        int rank = vocab_.bpe_rank(l, r, scratch_);
        if (rank < 0) return;
        queue_.push({left, right, rank, l.size() + r.size(), std::string(l) + std::string(r)});
    }

    const Vocab &vocab_;
    std::vector<int32_t> &out_;
    std::vector<Symbol> symbols_;
    std::priority_queue<Bigram, std::vector<Bigram>, BigramGreater> queue_;
    std::string scratch_;
};

} // namespace

void tokenize_bpe(const Vocab &vocab, std::string_view text, std::vector<int32_t> &out) {
    std::vector<std::pair<size_t, size_t>> words;
    vocab.pre_tokenizer().split(text, words);
    BpeWord session(vocab, out);
    std::string mapped;
    for (auto [off, len] : words) {
        mapped.clear();
        for (size_t i = 0; i < len; ++i) mapped += unicode::byte_to_utf8(static_cast<uint8_t>(text[off + i]));
        session.run(mapped);
    }
}

} // namespace skulk::model
