// SentencePiece-style tokenization (llama.cpp llm_tokenizer_spm): start from
// UTF-8 characters, repeatedly merge the adjacent pair whose concatenation is
// the highest-scoring token, then spell any piece that is not a token by
// undoing merges, and finally with byte tokens.
#include "tokenizer/merge_symbols.hpp"
#include "tokenizer/unicode.hpp"
#include "tokenizer/vocab.hpp"

#include <queue>
#include <unordered_map>

namespace skulk::model {

namespace {

using Symbol = MergeSymbol;

struct Bigram {
    int left, right;
    float score;
    size_t size;
};
struct BigramLess {
    bool operator()(const Bigram &l, const Bigram &r) const {
        return l.score < r.score || (l.score == r.score && l.left > r.left);
    }
};

class SpmSession {
public:
    SpmSession(const Vocab &v, std::vector<int32_t> &out) : vocab_(v), out_(out) {}

    void run(std::string_view text) {
        split_utf8_symbols(text, symbols_);
        for (size_t i = 1; i < symbols_.size(); ++i) try_add(static_cast<int>(i) - 1, static_cast<int>(i));
        while (!queue_.empty()) {
            Bigram b = queue_.top();
            queue_.pop();
            Symbol &l = symbols_[b.left];
            Symbol &r = symbols_[b.right];
            if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue; // outdated
            merge_symbols(symbols_, b.left, b.right);
            try_add(l.prev, b.left);
            try_add(b.left, l.next);
        }
        for (int i = 0; i != -1 && !symbols_.empty(); i = symbols_[i].next) resegment(symbols_[i]);
    }

private:
    void try_add(int left, int right) {
        if (left == -1 || right == -1) return;
        std::string_view text(symbols_[left].text, symbols_[left].n + symbols_[right].n);
        int32_t id = vocab_.find(text);
        if (id < 0) return;
        queue_.push({left, right, vocab_.token(id).score, text.size()});
        rev_merge_[std::string(text)] = {left, right};
    }

    void resegment(const Symbol &s) {
        std::string_view text(s.text, s.n);
        int32_t id = vocab_.find(text);
        if (id >= 0) {
            out_.push_back(id);
            return;
        }
        auto it = rev_merge_.find(std::string(text));
        if (it == rev_merge_.end()) {
            for (char c : text) out_.push_back(vocab_.byte_to_token(static_cast<uint8_t>(c)));
            return;
        }
        resegment(symbols_[it->second.first]);
        resegment(symbols_[it->second.second]);
    }

    const Vocab &vocab_;
    std::vector<int32_t> &out_;
    std::vector<Symbol> symbols_;
    std::priority_queue<Bigram, std::vector<Bigram>, BigramLess> queue_;
    std::unordered_map<std::string, std::pair<int, int>> rev_merge_;
};

} // namespace

void tokenize_spm(const Vocab &vocab, std::string_view text, std::vector<int32_t> &out) {
    SpmSession(vocab, out).run(text);
}

} // namespace skulk::model
