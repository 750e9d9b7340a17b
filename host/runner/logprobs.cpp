#include "runner/logprobs.hpp"

#include <skulk/json_text.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>

namespace skulk::runner {
namespace {

void append_number(std::string &out, double v) {
    char buf[32];
    if (!std::isfinite(v)) v = v < 0 ? -9999.0 : 0.0; // JSON has no -inf: OpenAI's own floor
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

void append_bytes(std::string &out, std::string_view s) {
    out += '[';
    char buf[8];
    for (size_t i = 0; i < s.size(); ++i) {
        if (i) out += ',';
        const auto r = std::to_chars(buf, buf + sizeof buf, static_cast<unsigned>(static_cast<unsigned char>(s[i])));
        out.append(buf, r.ptr);
    }
    out += ']';
}

void append_token(std::string &out, const model::Vocab &vocab, int32_t id, float logprob, LogprobScratch &scratch) {
    scratch.piece.clear();
    vocab.append_piece(id, scratch.piece, /*special=*/true);
    out += "{\"token\":";
    append_json_string(out, scratch.piece);
    out += ",\"logprob\":";
    append_number(out, logprob);
    out += ",\"bytes\":";
    append_bytes(out, scratch.piece);
}

} // namespace

float log_normaliser(const float *row, int32_t n_vocab) {
    float mx = -INFINITY;
    for (int32_t i = 0; i < n_vocab; ++i) mx = std::max(mx, row[i]);
    double sum = 0;
    for (int32_t i = 0; i < n_vocab; ++i) sum += std::exp(double(row[i]) - mx);
    return mx + static_cast<float>(std::log(sum));
}

void top_logits(const float *row, int32_t n_vocab, int32_t k, std::vector<std::pair<float, int32_t>> &top) {
    top.clear();
    k = std::min(k, n_vocab);
    if (k <= 0) return;
    // A sorted window of the best k: a logit below the current k-th costs one compare.
    auto better = [](const std::pair<float, int32_t> &a, const std::pair<float, int32_t> &b) {
        return a.first > b.first || (a.first == b.first && a.second < b.second);
    };
    for (int32_t i = 0; i < n_vocab; ++i) {
        if (static_cast<int32_t>(top.size()) == k && !(row[i] > top.back().first)) continue;
        const std::pair<float, int32_t> item{row[i], i};
        if (static_cast<int32_t>(top.size()) == k) top.pop_back();
        top.insert(std::upper_bound(top.begin(), top.end(), item, better), item);
    }
}

void append_logprob_entry(const model::Vocab &vocab, const float *row, int32_t n_vocab, int32_t token, int32_t n_top,
                          LogprobScratch &scratch, std::string &out) {
    const float norm = log_normaliser(row, n_vocab);
    if (!out.empty()) out += ',';
    append_token(out, vocab, token, row[token] - norm, scratch);
    out += ",\"top_logprobs\":[";
    top_logits(row, n_vocab, std::clamp(n_top, 0, kMaxTopLogprobs), scratch.top);
    for (size_t i = 0; i < scratch.top.size(); ++i) {
        if (i) out += ',';
        append_token(out, vocab, scratch.top[i].second, scratch.top[i].first - norm, scratch);
        out += '}';
    }
    out += "]}";
}

} // namespace skulk::runner
