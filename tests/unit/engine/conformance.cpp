#include "unit/engine/conformance.hpp"

#include "engine/generate.hpp"
#include "sampling/sampler.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>
#include <stdexcept>

namespace skulk::test {

namespace {

struct Stats {
    double mean, std, max, logsumexp;
};

Stats stats(const std::vector<float> &v) {
    double sum = 0, mx = -INFINITY;
    for (float x : v) { sum += x; mx = std::max(mx, static_cast<double>(x)); }
    const double mean = sum / v.size();
    double var = 0, se = 0;
    for (float x : v) { var += (x - mean) * (x - mean); se += std::exp(x - mx); }
    return {mean, std::sqrt(var / v.size()), mx, mx + std::log(se)};
}

std::vector<int32_t> top_ids(const std::vector<float> &v, int k) {
    std::vector<int32_t> idx(v.size());
    std::iota(idx.begin(), idx.end(), 0);
    std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int32_t a, int32_t b) {
        return v[a] != v[b] ? v[a] > v[b] : a < b;
    });
    idx.resize(k);
    return idx;
}

// KL(p || q) of the softmax distributions of two logit vectors.
double kl_div(const std::vector<float> &ref, const std::vector<float> &ours) {
    const Stats a = stats(ref), b = stats(ours);
    double kl = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
        const double lp = ref[i] - a.logsumexp, lq = ours[i] - b.logsumexp;
        kl += std::exp(lp) * (lp - lq);
    }
    return std::max(kl, 0.0);
}

} // namespace

FileMeasure measure(engine::ComputeSession &s, const Reference &ref, int n_steps, int max_prompt_tokens) {
    FileMeasure fm;
    fm.stem = ref.stem;
    fm.n_steps = n_steps;
    const int V = s.n_vocab();
    std::vector<float> logits(V);
    std::vector<int32_t> tok(s.n_batch_max()), pos(s.n_batch_max());
    std::vector<uint32_t> seq(s.n_batch_max(), 0);
    std::vector<uint8_t> want(s.n_batch_max(), 0);
    skulk_batch b{};
    b.size = sizeof b;
    b.token = tok.data();
    b.pos = pos.data();
    b.seq_id = seq.data();
    b.want_output = want.data();

    for (const RefPrompt &p : ref.prompts) {
        if (static_cast<int>(p.prompt_tokens.size()) > max_prompt_tokens) continue;
        PromptMeasure m;
        m.index = p.index;
        s.seq_drop(0, 0, -1);
        const int n = static_cast<int>(p.prompt_tokens.size());
        if (n > static_cast<int>(s.n_batch_max()))
            throw std::runtime_error(ref.stem + ": prompt " + std::to_string(p.index) + " does not fit one batch");
        for (int i = 0; i < n; ++i) {
            tok[i] = p.prompt_tokens[i];
            pos[i] = i;
            want[i] = i == n - 1;
        }
        b.n_tokens = static_cast<uint32_t>(n);
        s.forward(b, logits.data(), logits.size());
        bool still_equal = true;
        const int steps = std::min(n_steps, static_cast<int>(p.generated.size()));
        for (int k = 0; k < steps; ++k) {
            const int32_t ours = model::argmax(logits);
            const int32_t theirs = p.generated[k];
            if (ours == theirs) {
                if (still_equal) ++m.greedy_equal;
            } else {
                still_equal = false;
                m.max_mismatch_gap = std::max(m.max_mismatch_gap, static_cast<double>(logits[ours] - logits[theirs]));
            }
            if (k == 0) {
                m.top1_step0 = ours == theirs;
                if (!p.logits_bin.empty()) {
                    const std::vector<float> r = load_logits(p.logits_bin, V);
                    m.has_bin = true;
                    double dot = 0, na = 0, nb = 0;
                    for (int i = 0; i < V; ++i) {
                        m.max_diff = std::max(m.max_diff, static_cast<double>(std::fabs(r[i] - logits[i])));
                        dot += static_cast<double>(r[i]) * logits[i];
                        na += static_cast<double>(r[i]) * r[i];
                        nb += static_cast<double>(logits[i]) * logits[i];
                    }
                    m.cosine = dot / std::sqrt(na * nb);
                    m.kl = kl_div(r, logits);
                }
            }
            if (k < static_cast<int>(p.positions.size())) {
                const RefPosition &rp = p.positions[k];
                if (k == 0) m.sigma = rp.std;
                if (ours == rp.argmax) ++m.top1_positions;
                const Stats st = stats(logits);
                m.max_stat_diff = std::max({m.max_stat_diff, std::fabs(st.mean - rp.mean), std::fabs(st.std - rp.std),
                                            std::fabs(st.max - rp.max), std::fabs(st.logsumexp - rp.logsumexp)});
                const std::vector<int32_t> mine = top_ids(logits, static_cast<int>(rp.top.size()));
                int overlap = 0;
                for (const auto &[id, value] : rp.top) {
                    overlap += std::find(mine.begin(), mine.end(), id) != mine.end();
                    m.max_top20_diff = std::max(m.max_top20_diff, static_cast<double>(std::fabs(logits[id] - value)));
                }
                m.min_top20_overlap = std::min(m.min_top20_overlap, overlap);
            }
            if (k + 1 == steps) break;
            tok[0] = theirs;
            pos[0] = n + k;
            want[0] = 1;
            b.n_tokens = 1;
            s.forward(b, logits.data(), logits.size());
        }
        fm.prompts.push_back(m);
    }
    return fm;
}

double FileMeasure::worst_max_diff() const {
    double w = 0;
    for (const auto &p : prompts) w = std::max(w, p.max_diff);
    return w;
}
double FileMeasure::worst_sigma_ratio() const {
    double w = 0;
    for (const auto &p : prompts)
        if (p.sigma > 0) w = std::max(w, p.max_diff / p.sigma);
    return w;
}
double FileMeasure::worst_cosine() const {
    double w = 1;
    for (const auto &p : prompts) w = std::min(w, p.cosine);
    return w;
}
double FileMeasure::worst_kl() const {
    double w = 0;
    for (const auto &p : prompts) w = std::max(w, p.kl);
    return w;
}
int FileMeasure::prompts_top1_step0() const {
    int n = 0;
    for (const auto &p : prompts) n += p.top1_step0;
    return n;
}
double FileMeasure::top1_position_rate() const {
    int hit = 0, all = 0;
    for (const auto &p : prompts) { hit += p.top1_positions; all += 8; }
    return all ? static_cast<double>(hit) / all : 0;
}
int FileMeasure::worst_top20_overlap() const {
    int w = 20;
    for (const auto &p : prompts) w = std::min(w, p.min_top20_overlap);
    return w;
}
int FileMeasure::greedy_all_equal() const {
    int n = 0;
    for (const auto &p : prompts) n += p.greedy_equal == n_steps;
    return n;
}
std::string FileMeasure::summary() const {
    std::ostringstream o;
    o << stem << ": max|diff| " << worst_max_diff() << " (" << worst_sigma_ratio() << " sigma), min cosine "
      << worst_cosine() << ", max KL " << worst_kl() << ", top-1 at step 0 " << prompts_top1_step0() << "/" << prompts.size()
      << ", top-1 over logged steps " << 100.0 * top1_position_rate() << "%, min top-20 overlap " << worst_top20_overlap()
      << ", greedy " << n_steps << "/" << n_steps << " on " << greedy_all_equal() << "/" << prompts.size() << " prompts (lengths";
    for (const auto &p : prompts) o << " " << p.greedy_equal;
    o << ")";
    return o.str();
}

} // namespace skulk::test
