// Running one conformance reference through the engine and measuring how far
// it is from llama.cpp, per the rules of shared/conformance/README.md.
#pragma once

#include "unit/engine/reference.hpp"

#include "engine/compute_session.hpp"

#include <string>
#include <vector>

namespace skulk::test {

struct PromptMeasure {
    int index = 0;
    bool has_bin = false;
    double max_diff = 0, cosine = 1, kl = 0, sigma = 0; // step 0 vs the .bin (when shipped)
    bool top1_step0 = false;
    int top1_positions = 0;     // of the 8 logged steps (teacher-forced: all same-input)
    int min_top20_overlap = 20; // over the 8 logged steps
    double max_top20_diff = 0;  // |ours - ref| over the logged top-20 logits
    double max_stat_diff = 0;   // logsumexp/mean/std/max
    int greedy_equal = 0;       // leading steps (of 32) whose argmax equals the reference
    // largest (our logit of our top-1) - (our logit of the reference token) where they differ
    double max_mismatch_gap = 0;
};

struct FileMeasure {
    std::string stem;
    int n_steps = 32;
    std::vector<PromptMeasure> prompts;
    double worst_max_diff() const;
    double worst_sigma_ratio() const;
    double worst_cosine() const;
    double worst_kl() const;
    int prompts_top1_step0() const;
    double top1_position_rate() const;
    int worst_top20_overlap() const;
    int greedy_all_equal() const;
    std::string summary() const;
};

// Teacher-forced: the prompt in one batch, then the reference's own greedy
// tokens one by one, so all 32 steps see the reference's inputs.
// n_steps: how many of the 32 reference steps to run (the quantized rule
// only looks at the 8 logged ones); max_prompt_tokens: skip longer prompts.
FileMeasure measure(engine::ComputeSession &s, const Reference &ref, int n_steps = 32, int max_prompt_tokens = 1 << 30);

} // namespace skulk::test
