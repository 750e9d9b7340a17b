// Rotary position embedding (RoPE): NORMAL (interleaved pairs) and NEOX
// (split halves) layouts, with frequency base/scale, YaRN, linear and
// Llama-3 frequency scaling. The angles of one position are shared by every
// head, so they are computed once per token (angles()) and applied per head.
#pragma once

#include <cstdint>
#include <vector>

namespace skulk::cpu {

struct RopeConfig {
    int n_rot = 0;       // rotated dimensions of each head (even)
    int type = 0;        // skulk_rope_type: 0 NORMAL, 2 NEOX
    float freq_base = 10000.0f;
    float freq_scale = 1.0f; // position multiplier (1 / linear or YaRN factor)
    float ext_factor = 0.0f; // YaRN extrapolation mix (0 = off)
    float attn_factor = 1.0f;
    float beta_fast = 32.0f;
    float beta_slow = 1.0f;
    int n_ctx_orig = 0; // training context before scaling (YaRN)
    // Per-pair frequency divisors (Llama-3 scaling or a rope_freqs tensor);
    // empty = all 1.
    std::vector<float> freq_factors;
};

// Llama-3 "rope_freqs": the divisor of each pair's frequency.
std::vector<float> llama3_freq_factors(int n_rot, float freq_base, float factor, float low_freq_factor,
                                       float high_freq_factor, int n_ctx_orig);

class Rope {
public:
    explicit Rope(RopeConfig cfg);
    int n_rot() const { return cfg_.n_rot; }
    // cos/sin pairs of one position: cs[2i] = cos, cs[2i+1] = sin, i < n_rot/2.
    void angles(int32_t pos, float *cs) const;
    // Rotate the first n_rot values of one head vector in place.
    void apply(float *x, const float *cs) const;

private:
    RopeConfig cfg_;
    float theta_scale_;
    float corr_dims_[2];
};

} // namespace skulk::cpu
