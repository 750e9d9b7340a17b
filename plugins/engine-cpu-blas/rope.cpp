#include "rope.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>

namespace skulk::cpu {

namespace {
// The dimension at which a rotation completes n_rot turns over n_ctx_orig
// positions (YaRN's correction range).
float yarn_corr_dim(int n_dims, int n_ctx_orig, float n_rot, float base) {
    return n_dims * std::log(n_ctx_orig / (n_rot * 2 * std::numbers::pi_v<float>)) / (2 * std::log(base));
}

float yarn_ramp(float low, float high, int i0) {
    const float y = (i0 / 2 - low) / std::max(0.001f, high - low);
    return 1 - std::min(1.0f, std::max(0.0f, y));
}
} // namespace

std::vector<float> llama3_freq_factors(int n_rot, float freq_base, float factor, float low_freq_factor,
                                       float high_freq_factor, int n_ctx_orig) {
    // As Meta's reference scales inv_freq: keep high frequencies, divide low
    // frequencies by `factor`, blend smoothly in between.
    std::vector<float> out(n_rot / 2, 1.0f);
    if (factor <= 0 || n_ctx_orig <= 0) return out;
    const float low_wavelen = n_ctx_orig / low_freq_factor;
    const float high_wavelen = n_ctx_orig / high_freq_factor;
    for (int i = 0; i < n_rot / 2; ++i) {
        const float freq = 1.0f / std::pow(freq_base, 2.0f * i / n_rot);
        const float wavelen = 2 * std::numbers::pi_v<float> / freq;
        if (wavelen < high_wavelen) {
            out[i] = 1.0f;
        } else if (wavelen > low_wavelen) {
            out[i] = factor;
        } else {
            const float smooth = (n_ctx_orig / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
            out[i] = 1.0f / ((1 - smooth) / factor + smooth);
        }
    }
    return out;
}

Rope::Rope(RopeConfig cfg) : cfg_(std::move(cfg)) {
    if (cfg_.n_rot <= 0 || cfg_.n_rot % 2) throw std::invalid_argument("rope: n_rot must be positive and even");
    if (!cfg_.freq_factors.empty() && static_cast<int>(cfg_.freq_factors.size()) < cfg_.n_rot / 2)
        throw std::invalid_argument("rope: freq_factors has fewer than n_rot/2 values");
    // Computed exactly as the reference (float pow, then repeated float
    // multiplication) so that long positions agree to the last bits.
    theta_scale_ = std::pow(cfg_.freq_base, -2.0f / cfg_.n_rot);
    corr_dims_[0] = 0;
    corr_dims_[1] = 0;
    if (cfg_.ext_factor != 0.0f && cfg_.n_ctx_orig > 0) {
        const float start = std::floor(yarn_corr_dim(cfg_.n_rot, cfg_.n_ctx_orig, cfg_.beta_fast, cfg_.freq_base));
        const float end = std::ceil(yarn_corr_dim(cfg_.n_rot, cfg_.n_ctx_orig, cfg_.beta_slow, cfg_.freq_base));
        corr_dims_[0] = std::max(0.0f, start);
        corr_dims_[1] = std::min(static_cast<float>(cfg_.n_rot - 1), end);
    }
}

void Rope::angles(int32_t pos, float *cs) const {
    float theta = static_cast<float>(pos);
    for (int i0 = 0; i0 < cfg_.n_rot; i0 += 2) {
        const float ff = cfg_.freq_factors.empty() ? 1.0f : cfg_.freq_factors[i0 / 2];
        const float theta_extrap = theta / ff;
        const float theta_interp = cfg_.freq_scale * theta_extrap;
        float t = theta_interp;
        float mscale = cfg_.attn_factor;
        if (cfg_.ext_factor != 0.0f) {
            const float ramp_mix = yarn_ramp(corr_dims_[0], corr_dims_[1], i0) * cfg_.ext_factor;
            t = theta_interp * (1 - ramp_mix) + theta_extrap * ramp_mix;
            mscale *= 1.0f + 0.1f * std::log(1.0f / cfg_.freq_scale);
        }
        cs[i0] = std::cos(t) * mscale;
        cs[i0 + 1] = std::sin(t) * mscale;
        theta *= theta_scale_;
    }
}

void Rope::apply(float *x, const float *cs) const {
    const int n = cfg_.n_rot;
    if (cfg_.type == 2) { // NEOX: pairs (i, i + n/2)
        const int half = n / 2;
        for (int i = 0; i < half; ++i) {
            const float c = cs[2 * i], s = cs[2 * i + 1];
            const float x0 = x[i], x1 = x[i + half];
            x[i] = x0 * c - x1 * s;
            x[i + half] = x0 * s + x1 * c;
        }
    } else { // NORMAL: pairs (2i, 2i+1)
        for (int i0 = 0; i0 < n; i0 += 2) {
            const float c = cs[i0], s = cs[i0 + 1];
            const float x0 = x[i0], x1 = x[i0 + 1];
            x[i0] = x0 * c - x1 * s;
            x[i0 + 1] = x0 * s + x1 * c;
        }
    }
}

} // namespace skulk::cpu
