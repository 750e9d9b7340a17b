#include "sampling/sampler.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>

namespace skulk::model {

namespace {
uint64_t splitmix64(uint64_t &x) {
    uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

// One pass over the row in W independent lanes, each keeping its largest
// value and where it was (strict > keeps the first of equal values); then the
// lowest index among the lanes holding the overall largest.
typedef float f32x4 __attribute__((vector_size(16)));
typedef int32_t i32x4 __attribute__((vector_size(16)));
typedef float f32x8 __attribute__((vector_size(32)));
typedef int32_t i32x8 __attribute__((vector_size(32)));
template <class lanes, class index>
[[gnu::always_inline]] inline int32_t argmax_lanes(std::span<const float> v) {
    constexpr int32_t W = sizeof(lanes) / sizeof(float);
    const int32_t n = static_cast<int32_t>(v.size()), n_vec = n / W * W;
    float best = -std::numeric_limits<float>::infinity();
    int32_t at = 0;
    if (n_vec) {
        lanes m = lanes{} + best, x;
        index where{}, cur;
        for (int32_t k = 0; k < W; ++k) cur[k] = k;
        for (int32_t i = 0; i < n_vec; i += W, cur += W) {
            std::memcpy(&x, v.data() + i, sizeof x);
            const index gt = x > m; // NaN never wins
            m = gt ? x : m;
            where = gt ? cur : where;
        }
        best = m[0], at = where[0];
        for (int32_t k = 1; k < W; ++k)
            if (m[k] > best || (m[k] == best && where[k] < at)) best = m[k], at = where[k];
    }
    for (int32_t i = n_vec; i < n; ++i)
        if (v[i] > best) best = v[i], at = i;
    return at;
}
#if defined(__x86_64__) || defined(__i386__)
[[gnu::target("avx2")]] int32_t argmax_avx2(std::span<const float> v) { return argmax_lanes<f32x8, i32x8>(v); }
#endif
} // namespace

int32_t argmax(std::span<const float> v) {
    // std::max_element's compare chain costs ~3 ns an element: 150 us for a
    // 49k vocabulary, every greedy token. This is 5 us with AVX2, 15 with SSE2.
#if defined(__x86_64__) || defined(__i386__)
    static const bool avx2 = __builtin_cpu_supports("avx2");
    if (avx2) return argmax_avx2(v);
#endif
    return argmax_lanes<f32x4, i32x4>(v); // 128-bit lanes: SSE2, NEON
}

Rng::Rng(uint64_t seed) {
    for (auto &s : s_) s = splitmix64(seed);
}
uint64_t Rng::next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
}
double Rng::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

Sampler::Sampler(const SamplingParams &params, size_t n_vocab)
    : params_(params), n_vocab_(n_vocab), seed_(params.seed ? *params.seed : std::random_device{}()),
      rng_(seed_) {
    if (n_vocab == 0) throw std::invalid_argument("sampler: empty vocabulary");
    for (auto [id, bias] : params_.logit_bias)
        if (id < 0 || static_cast<size_t>(id) >= n_vocab)
            throw std::invalid_argument("sampler: logit_bias names token " + std::to_string(id) +
                                        ", outside the vocabulary of " + std::to_string(n_vocab));
    cand_.resize(n_vocab);
    work_.resize(n_vocab);
    counts_.assign(n_vocab, 0);
    bin_mass_.assign(1024, 0.0);
    history_.assign(static_cast<size_t>(std::max(params_.repeat_last_n, 0)), 0);
}

void Sampler::accept(int32_t token) {
    if (history_.empty() || token < 0 || static_cast<size_t>(token) >= n_vocab_) return;
    if (history_len_ == history_.size()) --counts_[history_[history_pos_]]; // oldest leaves the window
    else ++history_len_;
    history_[history_pos_] = token;
    ++counts_[token];
    history_pos_ = (history_pos_ + 1) % history_.size();
}

void Sampler::apply_penalties() {
    const bool any = params_.repeat_penalty != 1.0f || params_.presence_penalty != 0.0f ||
                     params_.frequency_penalty != 0.0f;
    if (!any) return;
    for (size_t i = 0; i < history_len_; ++i) {
        int32_t t = history_[i];
        int32_t c = counts_[t];
        if (c <= 0) continue;
        // Each token once, however often it repeats: mark it by negating
        // its count, restored below.
        counts_[t] = -c;
        float &l = work_[t];
        if (params_.repeat_penalty != 1.0f) l = l <= 0 ? l * params_.repeat_penalty : l / params_.repeat_penalty;
        l -= static_cast<float>(c) * params_.frequency_penalty + params_.presence_penalty;
    }
    for (size_t i = 0; i < history_len_; ++i)
        if (counts_[history_[i]] < 0) counts_[history_[i]] = -counts_[history_[i]];
}

size_t Sampler::top_p_cut(size_t n, float max_l) {
    // Keeps the shortest prefix (in logit order, ties by id) whose softmax
    // mass reaches top_p, without sorting the whole vocabulary: the mass is
    // binned by logit, whole bins above the cut are kept unsorted and only
    // the bin the cut falls into is sorted.
    auto by_logit = [](const Candidate &a, const Candidate &b) { return a.logit > b.logit || (a.logit == b.logit && a.id < b.id); };
    double sum = 0;
    float min_l = max_l;
    for (size_t i = 0; i < n; ++i) {
        sum += std::exp(static_cast<double>(cand_[i].logit - max_l));
        min_l = std::min(min_l, cand_[i].logit);
    }
    const double target = params_.top_p * sum;
    const size_t nb = bin_mass_.size();
    const double scale = max_l > min_l ? (nb - 1) / static_cast<double>(max_l - min_l) : 0.0;
    auto bin = [&](float l) { return std::min(nb - 1, static_cast<size_t>((l - min_l) * scale)); };
    std::fill(bin_mass_.begin(), bin_mass_.end(), 0.0);
    for (size_t i = 0; i < n; ++i) bin_mass_[bin(cand_[i].logit)] += std::exp(static_cast<double>(cand_[i].logit - max_l));
    double cum = 0;
    size_t cut = 0; // the bin where the running mass reaches the target
    for (size_t b = nb; b-- > 0;) {
        if (cum + bin_mass_[b] >= target || b == 0) {
            cut = b;
            break;
        }
        cum += bin_mass_[b];
    }
    auto above_end = std::partition(cand_.begin(), cand_.begin() + n, [&](const Candidate &c) { return bin(c.logit) > cut; });
    auto in_end = std::partition(above_end, cand_.begin() + n, [&](const Candidate &c) { return bin(c.logit) == cut; });
    std::sort(above_end, in_end, by_logit);
    for (auto it = above_end; it != in_end; ++it) {
        cum += std::exp(static_cast<double>(it->logit - max_l));
        if (cum >= target) return static_cast<size_t>(it - cand_.begin()) + 1;
    }
    return static_cast<size_t>(in_end - cand_.begin());
}

int32_t Sampler::sample(const float *logits) {
    const bool penalties = params_.repeat_penalty != 1.0f || params_.presence_penalty != 0.0f ||
                           params_.frequency_penalty != 0.0f;
    if (params_.temperature <= 0.0f && !penalties && params_.logit_bias.empty())
        return argmax({logits, n_vocab_});
    std::copy(logits, logits + n_vocab_, work_.begin());
    for (auto [id, bias] : params_.logit_bias) work_[id] += bias;
    apply_penalties();

    if (params_.temperature <= 0.0f) return argmax(work_);

    size_t n = 0;
    for (size_t i = 0; i < n_vocab_; ++i)
        if (work_[i] != -std::numeric_limits<float>::infinity()) cand_[n++] = {work_[i], static_cast<int32_t>(i)};
    if (n == 0) return argmax(work_);
    auto by_logit = [](const Candidate &a, const Candidate &b) { return a.logit > b.logit || (a.logit == b.logit && a.id < b.id); };

    // top-k: the k best, in order.
    if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < n) {
        std::partial_sort(cand_.begin(), cand_.begin() + params_.top_k, cand_.begin() + n, by_logit);
        n = static_cast<size_t>(params_.top_k);
    }
    float max_l = cand_[0].logit;
    for (size_t i = 1; i < n; ++i) max_l = std::max(max_l, cand_[i].logit);
    if (params_.top_p < 1.0f) n = top_p_cut(n, max_l);
    if (params_.min_p > 0.0f) {
        // p_i >= min_p * p_max  <=>  logit_i >= max + log(min_p); order is
        // not needed, so partition.
        const float floor = max_l + std::log(params_.min_p);
        n = static_cast<size_t>(std::partition(cand_.begin(), cand_.begin() + n,
                                               [floor](const Candidate &c) { return c.logit >= floor; }) -
                                cand_.begin());
        if (n == 0) n = 1;
    }
    // Temperature, then draw.
    const double inv_t = 1.0 / params_.temperature;
    double total = 0;
    for (size_t i = 0; i < n; ++i) {
        double p = std::exp((static_cast<double>(cand_[i].logit) - max_l) * inv_t);
        work_[i] = static_cast<float>(p); // reuse as the probability buffer
        total += p;
    }
    double r = rng_.uniform() * total;
    for (size_t i = 0; i < n; ++i) {
        r -= work_[i];
        if (r < 0) return cand_[i].id;
    }
    return cand_[n - 1].id;
}

StopMatcher::StopMatcher(std::vector<std::string> stops) {
    for (auto &s : stops)
        if (!s.empty()) stops_.push_back(std::move(s));
    pending_.reserve(64);
}

void StopMatcher::push(std::string_view text, std::string &out) {
    if (stopped_) return;
    pending_.append(text);
    // The earliest complete stop string ends the stream.
    size_t best = std::string::npos;
    for (const auto &s : stops_) {
        size_t m = pending_.find(s);
        if (m < best) {
            best = m;
            matched_ = s;
        }
    }
    if (best != std::string::npos) {
        out.append(pending_, 0, best);
        pending_.clear();
        stopped_ = true;
        return;
    }
    // Hold back the longest tail that is a prefix of some stop string.
    size_t hold = 0;
    for (const auto &s : stops_) {
        size_t max = std::min(s.size() - 1, pending_.size());
        for (size_t k = max; k > hold; --k)
            if (pending_.compare(pending_.size() - k, k, s, 0, k) == 0) {
                hold = k;
                break;
            }
    }
    size_t emit = pending_.size() - hold;
    out.append(pending_, 0, emit);
    pending_.erase(0, emit);
}

std::string StopMatcher::flush() {
    std::string s;
    if (!stopped_) s.swap(pending_);
    pending_.clear();
    return s;
}

} // namespace skulk::model
