// The cpu_blas engine beyond single-sequence conformance: batches that mix
// sequences, KV prefix reuse (seq_copy/seq_drop), pipeline layer ranges,
// memory report, and the errors a bad model or batch gets.
#include "unit/engine/engine_fixture.hpp"
#include "unit/engine/reference.hpp"

#include "engine/generate.hpp"
#include "engine/lend.hpp"
#include "gguf/gguf.hpp"
#include "gguf/hparams.hpp"
#include "sampling/sampler.hpp"

#include <skulk/plugin.hpp>

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

namespace skulk::test {
namespace {

std::filesystem::path stories() { return shared_dir() / "models" / "stories260K.gguf"; }

engine::SessionOptions f32_options(uint32_t n_seq = 1) {
    engine::SessionOptions o;
    o.n_threads = 2;
    o.n_ctx = 512;
    o.n_batch_max = 512;
    o.n_seq_max = n_seq;
    o.kv_type = SKULK_KV_F32;
    return o;
}

double max_abs_diff(std::span<const float> a, std::span<const float> b) {
    double m = 0;
    for (size_t i = 0; i < a.size(); ++i) m = std::max(m, static_cast<double>(std::fabs(a[i] - b[i])));
    return m;
}

// Three real prompts of different lengths from the stories260K reference.
std::vector<std::vector<int32_t>> three_prompts() {
    const Reference ref = load_reference("stories260K");
    return {ref.prompts[0].prompt_tokens, ref.prompts[3].prompt_tokens, ref.prompts[5].prompt_tokens};
}

TEST(EngineBatch, MixedSequencesMatchEachAlone) {
    const auto prompts = three_prompts();
    auto single = open_session(stories(), f32_options());
    std::vector<std::vector<float>> alone;
    for (const auto &p : prompts) {
        single->seq_drop(0);
        alone.push_back(forward_all(*single, p, 0, 0));
    }

    // One batch, tokens of the three sequences interleaved round-robin.
    auto multi = open_session(stories(), f32_options(3));
    std::vector<int32_t> tok, pos;
    std::vector<uint32_t> seq;
    std::vector<std::pair<int, int>> origin; // (prompt, index)
    for (size_t i = 0;; ++i) {
        bool any = false;
        for (int s = 0; s < 3; ++s) {
            if (i >= prompts[s].size()) continue;
            any = true;
            tok.push_back(prompts[s][i]);
            pos.push_back(static_cast<int32_t>(i));
            seq.push_back(static_cast<uint32_t>(s));
            origin.emplace_back(s, static_cast<int>(i));
        }
        if (!any) break;
    }
    const int V = multi->n_vocab();
    std::vector<float> out(tok.size() * V);
    skulk_batch b{};
    b.size = sizeof b;
    b.n_tokens = static_cast<uint32_t>(tok.size());
    b.token = tok.data();
    b.pos = pos.data();
    b.seq_id = seq.data();
    multi->forward(b, out.data(), out.size());
    double worst = 0;
    for (size_t r = 0; r < tok.size(); ++r) {
        const auto [s, i] = origin[r];
        worst = std::max(worst, max_abs_diff({out.data() + r * V, static_cast<size_t>(V)},
                                             {alone[s].data() + static_cast<size_t>(i) * V, static_cast<size_t>(V)}));
    }
    EXPECT_LE(worst, 1e-4);

    // A decode step of all three at once, each at its own position.
    const int32_t next[3] = {model::argmax({alone[0].data() + (prompts[0].size() - 1) * V, static_cast<size_t>(V)}),
                             model::argmax({alone[1].data() + (prompts[1].size() - 1) * V, static_cast<size_t>(V)}),
                             model::argmax({alone[2].data() + (prompts[2].size() - 1) * V, static_cast<size_t>(V)})};
    const int32_t npos[3] = {static_cast<int32_t>(prompts[0].size()), static_cast<int32_t>(prompts[1].size()),
                             static_cast<int32_t>(prompts[2].size())};
    const uint32_t nseq[3] = {0, 1, 2};
    std::vector<float> step(3 * V);
    b.n_tokens = 3;
    b.token = next;
    b.pos = npos;
    b.seq_id = nseq;
    multi->forward(b, step.data(), step.size());
    for (int s = 0; s < 3; ++s) {
        single->seq_drop(0);
        forward_all(*single, prompts[s], 0, 0);
        const std::vector<float> one = forward_all(*single, {&next[s], 1}, npos[s], 0);
        EXPECT_LE(max_abs_diff({step.data() + s * V, static_cast<size_t>(V)}, one), 1e-4) << "sequence " << s;
    }
}

TEST(EngineKv, SeqCopyAndDropReuseAPrefix) {
    auto ps = three_prompts();
    const auto prompt = *std::max_element(ps.begin(), ps.end(), [](auto &a, auto &b) { return a.size() < b.size(); });
    ASSERT_GE(prompt.size(), 6u);
    const int V = 512;
    const int32_t split = static_cast<int32_t>(prompt.size() / 2);
    auto s = open_session(stories(), f32_options(2));
    const std::vector<float> full = forward_all(*s, prompt, 0, 0);

    // seq 1 takes seq 0's prefix and computes only the rest.
    s->seq_copy(0, 1, split);
    const std::vector<float> rest = forward_all(*s, {prompt.data() + split, prompt.size() - split}, split, 1);
    EXPECT_LE(max_abs_diff(rest, {full.data() + static_cast<size_t>(split) * V, rest.size()}), 1e-5);

    // Dropping the tail of seq 0 and recomputing it gives the same logits.
    s->seq_drop(0, split, -1);
    const std::vector<float> again = forward_all(*s, {prompt.data() + split, prompt.size() - split}, split, 0);
    EXPECT_LE(max_abs_diff(again, rest), 1e-6);

    // With the whole sequence dropped, the last token alone sees no context:
    // its logits must differ from the in-context ones.
    s->seq_drop(0);
    const std::vector<float> orphan = forward_all(*s, {&prompt.back(), 1}, static_cast<int32_t>(prompt.size() - 1), 0);
    EXPECT_GT(max_abs_diff(orphan, {full.data() + (prompt.size() - 1) * V, static_cast<size_t>(V)}), 1e-2);
}

TEST(EngineRanges, PipelineOfTwoRangesMatchesTheWholeModel) {
    const auto prompt = three_prompts()[1];
    auto whole = open_session(stories(), f32_options());
    const std::vector<float> expect = forward_all(*whole, prompt, 0, 0);

    auto front = open_session(stories(), f32_options(), 0, 2, SKULK_RANGE_EMBED);
    auto back = open_session(stories(), f32_options(), 3, 4, SKULK_RANGE_HEAD);
    const size_t n = prompt.size();
    const int E = front->n_embd(), V = back->n_vocab();
    std::vector<int32_t> pos(n);
    std::vector<uint32_t> seq(n, 0);
    for (size_t i = 0; i < n; ++i) pos[i] = static_cast<int32_t>(i);
    std::vector<float> hidden(n * E), logits(n * V);
    skulk_batch b{};
    b.size = sizeof b;
    b.n_tokens = static_cast<uint32_t>(n);
    b.token = prompt.data();
    b.pos = pos.data();
    b.seq_id = seq.data();
    front->forward(b, hidden.data(), hidden.size());
    b.token = nullptr;
    b.embd = hidden.data();
    back->forward(b, logits.data(), logits.size());
    EXPECT_LE(max_abs_diff(logits, expect), 1e-5);
}

TEST(EngineMemory, ReportsWeightsKvAndScratch) {
    auto s = open_session(stories(), f32_options(2));
    const auto j = nlohmann::json::parse(s->memory_json());
    const auto p = s->params();
    // F32 cache: layers x sequences x n_ctx x (k + v) floats, plus one byte of
    // presence per (sequence, position).
    const uint64_t kv = uint64_t{p.n_layer} * 2 * 512 * (p.n_head_kv * p.head_dim_k + p.n_head_kv * p.head_dim_v) * 4 + 2 * 512;
    EXPECT_EQ(j.at("kv_bytes").get<uint64_t>(), kv);
    EXPECT_GT(j.at("weights_bytes").get<uint64_t>(), 1000000u); // the F32 file is 1.18 MB of tensors
    EXPECT_LE(j.at("weights_bytes").get<uint64_t>(), s->file().file_size());
    EXPECT_GT(j.at("scratch_bytes").get<uint64_t>(), 0u);
}

TEST(EngineErrors, BadBatchesAreRefused) {
    auto s = open_session(stories(), f32_options());
    std::vector<float> out(512 * 2);
    int32_t tok[2] = {1, 2}, pos[2] = {0, 1};
    uint32_t seq[2] = {0, 0};
    skulk_batch b{};
    b.size = sizeof b;
    b.n_tokens = 2;
    b.token = tok;
    b.pos = pos;
    b.seq_id = seq;
    EXPECT_NO_THROW(s->forward(b, out.data(), out.size()));
    auto refused = [&](const char *what) {
        try {
            s->forward(b, out.data(), out.size());
            ADD_FAILURE() << what << " was accepted";
        } catch (const engine::EngineError &e) {
            EXPECT_EQ(e.status, SKULK_E_INVALID) << what;
        }
    };
    tok[1] = 512;
    refused("a token outside the vocabulary");
    tok[1] = 2;
    pos[1] = 512;
    refused("a position outside the context");
    pos[1] = 1;
    seq[1] = 1;
    refused("a sequence id >= n_seq_max");
    seq[1] = 0;
    try {
        s->forward(b, out.data(), 512); // room for one row of logits, two wanted
        ADD_FAILURE() << "a short output buffer was accepted";
    } catch (const engine::EngineError &e) {
        EXPECT_EQ(e.status, SKULK_E_INVALID);
    }
}

TEST(EngineErrors, MissingTensorIsNamed) {
    const auto file = model::GgufFile::open(stories());
    const auto params = model::read_hparams(*file);
    std::vector<skulk_tensor> ts = engine::lend_tensors(*file, 0, 4, SKULK_RANGE_EMBED | SKULK_RANGE_HEAD);
    std::erase_if(ts, [](const skulk_tensor &t) { return view(t.name) == "blk.2.ffn_up.weight"; });
    const skulk_model_params abi = model::to_abi(params);
    skulk_compute_options o{};
    o.size = sizeof o;
    o.n_ctx = 64;
    o.n_batch_max = 8;
    o.n_seq_max = 1;
    skulk_compute_instance *inst = nullptr;
    string_sink err;
    const ComputePlugin p = cpu_blas_plugin();
    EXPECT_EQ(p.vtable->create(&abi, 0, 4, SKULK_RANGE_EMBED | SKULK_RANGE_HEAD, ts.data(), ts.size(), &o, &inst, err.get()),
              SKULK_E_INVALID);
    EXPECT_EQ(inst, nullptr);
    EXPECT_NE(err.text.find("blk.2.ffn_up.weight"), std::string::npos) << err.text;
}

TEST(EngineErrors, UnknownArchitectureIsUnsupported) {
    const auto file = model::GgufFile::open(stories());
    auto params = model::read_hparams(*file);
    params.arch = "mamba";
    const std::vector<skulk_tensor> ts = engine::lend_tensors(*file, 0, 4, SKULK_RANGE_EMBED | SKULK_RANGE_HEAD);
    const skulk_model_params abi = model::to_abi(params);
    skulk_compute_instance *inst = nullptr;
    string_sink err;
    const ComputePlugin p = cpu_blas_plugin();
    EXPECT_EQ(p.vtable->create(&abi, 0, 4, 3, ts.data(), ts.size(), nullptr, &inst, err.get()), SKULK_E_UNSUPPORTED);
    EXPECT_NE(err.text.find("mamba"), std::string::npos) << err.text;
}

TEST(EngineGenerate, GreedyLoopReproducesTheReferenceContinuation) {
    const Reference ref = load_reference("stories260K");
    auto s = open_session(stories(), f32_options());
    const RefPrompt &p = ref.prompts[2];
    engine::GenerationParams g;
    g.n_predict = 32;
    g.logits_at = {static_cast<int32_t>(p.prompt_tokens.size() - 1)};
    const engine::GenerationResult r = engine::generate(*s, p.prompt_tokens, g);
    EXPECT_EQ(r.tokens, p.generated);
    ASSERT_EQ(r.logits.size(), 1u);
    EXPECT_LE(max_abs_diff(r.logits[0].values, load_logits(p.logits_bin, 512)), 1e-3);
    EXPECT_EQ(r.stop_reason, "length");
}

} // namespace
} // namespace skulk::test

namespace skulk::test {
namespace {

// No options at all: the engine picks its defaults (the model's context, one
// sequence, 512-token batches, F16 cache) and runs.
TEST(EngineOptions, NullOptionsUseDefaults) {
    const auto file = model::GgufFile::open(stories());
    const auto params = model::read_hparams(*file);
    const std::vector<skulk_tensor> ts = engine::lend_tensors(*file, 0, 4, SKULK_RANGE_EMBED | SKULK_RANGE_HEAD);
    const skulk_model_params abi = model::to_abi(params);
    const ComputePlugin p = cpu_blas_plugin();
    skulk_compute_instance *inst = nullptr;
    string_sink err;
    ASSERT_EQ(p.vtable->create(&abi, 0, 4, 3, ts.data(), ts.size(), nullptr, &inst, err.get()), SKULK_OK) << err.text;
    int32_t tok = 1, pos = 511; // the last position of the model's 512-token context
    uint32_t seq = 0;
    skulk_batch b{};
    b.size = sizeof b;
    b.n_tokens = 1;
    b.token = &tok;
    b.pos = &pos;
    b.seq_id = &seq;
    std::vector<float> out(512);
    EXPECT_EQ(p.vtable->forward(inst, &b, out.data(), out.size()), SKULK_OK);
    pos = 512;
    EXPECT_EQ(p.vtable->forward(inst, &b, out.data(), out.size()), SKULK_E_INVALID);
    string_sink mem;
    EXPECT_EQ(p.vtable->memory(inst, mem.get()), SKULK_OK);
    // F16 cache: 2 bytes per value
    const uint64_t kv = uint64_t{params.n_layer} * 512 * 2 * params.n_head_kv * params.head_dim_k * 2 + 512;
    EXPECT_EQ(nlohmann::json::parse(mem.text).at("kv_bytes").get<uint64_t>(), kv);
    p.vtable->destroy(inst);
}

} // namespace
} // namespace skulk::test
