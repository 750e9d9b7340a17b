// Synthetic models and the quant mixes. The expected per-tensor types come
// from files llama-quantize made (shared/models), the error bounds from the
// step size of each format.
#include "gguf/gguf.hpp"
#include "gguf/hparams.hpp"
#include "gguf/quant_mix.hpp"
#include "gguf/synth.hpp"
#include "tokenizer/vocab.hpp"
#include "quant/reference.hpp"
#include "quant/types.hpp"
#include "unit/test_paths.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <map>

using namespace skulk::model;
using skulk::test::models_dir;

namespace {

std::filesystem::path temp_dir() {
    auto d = std::filesystem::temp_directory_path() / ("skulk-synth-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
}

std::vector<float> dequantize(const GgufTensorInfo &t) {
    std::vector<float> out(static_cast<size_t>(t.n_elements()));
    const uint64_t row_bytes = *skulk::quant::row_bytes(t.type, static_cast<uint64_t>(t.ne[0]));
    const int64_t rows = t.n_elements() / t.ne[0];
    for (int64_t r = 0; r < rows; ++r)
        skulk::quant::dequantize_row(t.type, static_cast<const uint8_t *>(t.data) + r * row_bytes,
                                     out.data() + r * t.ne[0], t.ne[0]);
    return out;
}

std::string run(const std::string &cmd) {
    std::string out;
    FILE *p = ::popen(cmd.c_str(), "r");
    if (!p) return out;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    int rc = ::pclose(p);
    if (rc != 0) out = "EXIT " + std::to_string(rc) + ": " + out;
    return out;
}

std::string tool() {
    const char *b = std::getenv("SKULK_BUILD_DIR");
    return (std::filesystem::path(b ? b : "build") / "bin" / "skulk-gguf").string();
}

} // namespace

TEST(QuantMix, MatchesLlamaQuantizeOnShippedFiles) {
    struct Case {
        const char *file, *plan;
    };
    const Case cases[] = {
        {"llama-synth-v512-Q4_K_M.gguf", "Q4_K_M"}, {"llama-synth-v512-Q5_K_M.gguf", "Q5_K_M"},
        {"llama-synth-small-Q4_K_M.gguf", "Q4_K_M"}, {"qwen2-synth-small-Q4_K_M.gguf", "Q4_K_M"},
        {"qwen2-synth-w384-Q4_K_M.gguf", "Q4_K_M"},  {"qwen2-synth-w384-Q5_K_M.gguf", "Q5_K_M"},
        {"llama-synth-v512-Q8_0.gguf", "Q8_0"},      {"qwen2-synth-small-Q8_0.gguf", "Q8_0"},
        {"llama-synth-v512-Q6_K.gguf", "Q6_K"},      {"llama-synth-v512-Q4_1.gguf", "Q4_1"},
        {"llama-synth-v512-Q5_0.gguf", "Q5_0"},      {"llama-synth-v512-Q5_1.gguf", "Q5_1"},
    };
    for (const auto &c : cases) {
        SCOPED_TRACE(c.file);
        auto f = GgufFile::open(models_dir() / c.file);
        ModelParams p = read_hparams(*f);
        auto plan = quant_plan(c.plan);
        ASSERT_TRUE(plan);
        EXPECT_EQ(f->get_u32("general.file_type"), plan->file_type);
        for (const auto &t : f->tensors())
            EXPECT_EQ(tensor_type(*plan, t.name, t.ne[0], t.n_dims, static_cast<int>(p.n_layer), p.tied_output), t.type)
                << t.name;
    }
}

TEST(QuantMix, UseMoreBitsCountsOfRealModels) {
    // shared/reference/cpu-kernels.md: 10 of 22 layers (TinyLlama), 14 of 30 (SmolLM2).
    auto count = [](int n) {
        int k = 0;
        for (int i = 0; i < n; ++i) k += use_more_bits(i, n);
        return k;
    };
    EXPECT_EQ(count(22), 10);
    EXPECT_EQ(count(30), 14);
    EXPECT_FALSE(quant_plan("Q3_K"));
}

TEST(Synth, PresetShapesAreThePublicConfigs) {
    // From the models' config.json (hidden_size, layers, heads, kv heads, intermediate).
    SynthShape s = preset_shape("smollm2-135m");
    EXPECT_EQ(s.n_embd, 576u);
    EXPECT_EQ(s.n_layer, 30u);
    EXPECT_EQ(s.n_head, 9u);
    EXPECT_EQ(s.n_head_kv, 3u);
    EXPECT_EQ(s.n_ff, 1536u);
    EXPECT_TRUE(s.tied);
    s = preset_shape("qwen2.5-0.5b");
    EXPECT_EQ(s.n_embd, 896u);
    EXPECT_EQ(s.n_layer, 24u);
    EXPECT_EQ(s.n_head, 14u);
    EXPECT_EQ(s.n_head_kv, 2u);
    EXPECT_EQ(s.n_ff, 4864u);
    EXPECT_TRUE(s.qkv_bias);
    s = preset_shape("tinyllama-1.1b");
    EXPECT_EQ(s.n_embd, 2048u);
    EXPECT_EQ(s.n_layer, 22u);
    EXPECT_EQ(s.n_head, 32u);
    EXPECT_EQ(s.n_head_kv, 4u);
    EXPECT_EQ(s.n_ff, 5632u);
    EXPECT_FALSE(s.tied);
    EXPECT_THROW(preset_shape("gpt-5"), std::invalid_argument);
}

TEST(Synth, EveryTypeLoadsAndRoundTripsWithinTheFormatError) {
    auto dir = temp_dir();
    SynthOptions o;
    o.arch = "llama";
    o.shape = SynthShape{256, 2, 4, 2, 512, 0, 512, 10000.0f, 1e-5f, false, false};
    o.vocab_from = models_dir() / "stories260K.gguf";
    o.seed = 11;
    o.type = "F32";
    synth_model(o, dir / "f32.gguf");
    auto ref = GgufFile::open(dir / "f32.gguf");
    // RMS error / RMS value for Gaussian data: about step / sqrt(12) per
    // format, with headroom.
    const std::map<std::string, double> bound{{"F16", 1e-3},  {"BF16", 5e-3}, {"Q8_0", 0.01}, {"Q4_0", 0.15},
                                              {"Q4_1", 0.13}, {"Q5_0", 0.07}, {"Q5_1", 0.065}, {"Q4_K", 0.12},
                                              {"Q5_K", 0.06}, {"Q6_K", 0.03}, {"Q4_K_M", 0.12}, {"Q5_K_M", 0.06}};
    for (const auto &[type, max_nrmse] : bound) {
        SCOPED_TRACE(type);
        o.type = type;
        synth_model(o, dir / (type + ".gguf"));
        auto f = GgufFile::open(dir / (type + ".gguf"));
        ModelParams p = read_hparams(*f);
        EXPECT_EQ(p.n_embd, 256u);
        EXPECT_EQ(p.n_layer, 2u);
        EXPECT_EQ(p.n_head_kv, 2u);
        EXPECT_EQ(p.n_vocab, 512u);
        ASSERT_EQ(f->tensors().size(), ref->tensors().size());
        for (const auto &t : f->tensors()) {
            const GgufTensorInfo *r = ref->tensor(t.name);
            ASSERT_NE(r, nullptr) << t.name;
            ASSERT_EQ(r->n_elements(), t.n_elements());
            if (t.n_dims == 1) {
                EXPECT_EQ(t.type, 0u) << t.name;
                continue;
            }
            auto want = dequantize(*r);
            auto got = dequantize(t);
            double se = 0, sx = 0;
            for (size_t i = 0; i < want.size(); ++i) {
                se += (got[i] - want[i]) * static_cast<double>(got[i] - want[i]);
                sx += want[i] * static_cast<double>(want[i]);
            }
            EXPECT_LT(std::sqrt(se / sx), max_nrmse) << t.name << " type " << skulk::quant::find_type(t.type)->name;
            EXPECT_GT(std::sqrt(se / sx), 0.0) << t.name; // lossy types really quantized (F16 of random f32 too)
        }
    }
    // The copied vocabulary tokenizes like the original.
    auto src = GgufFile::open(models_dir() / "stories260K.gguf");
    auto syn = GgufFile::open(dir / "Q8_0.gguf");
    EXPECT_EQ(Vocab::from_gguf(*syn)->tokenize("Once upon a time", true, false),
              Vocab::from_gguf(*src)->tokenize("Once upon a time", true, false));
    std::filesystem::remove_all(dir);
}

TEST(Synth, Qwen3AndSeeds) {
    auto dir = temp_dir();
    SynthOptions o;
    o.arch = "qwen3";
    o.shape = SynthShape{128, 2, 4, 2, 256, 64, 512, 1e6f, 1e-6f, true, false};
    o.vocab_from = models_dir() / "stories260K.gguf";
    o.type = "F16";
    o.seed = 5;
    synth_model(o, dir / "a.gguf");
    synth_model(o, dir / "b.gguf");
    o.seed = 6;
    synth_model(o, dir / "c.gguf");
    auto a = GgufFile::open(dir / "a.gguf");
    ModelParams p = read_hparams(*a);
    EXPECT_EQ(p.arch, "qwen3");
    EXPECT_EQ(p.head_dim_k, 64u); // wider than 128 / 4
    EXPECT_TRUE(p.tied_output);
    EXPECT_NE(a->tensor("blk.1.attn_k_norm.weight"), nullptr);
    EXPECT_EQ(a->tensor("blk.0.attn_q.weight")->ne[1], 4 * 64);
    EXPECT_EQ(skulk::test::read_file(dir / "a.gguf"), skulk::test::read_file(dir / "b.gguf"));
    EXPECT_NE(skulk::test::read_file(dir / "a.gguf"), skulk::test::read_file(dir / "c.gguf"));
    o.type = "Q3_K";
    EXPECT_THROW(synth_model(o, dir / "d.gguf"), std::invalid_argument);
    std::filesystem::remove_all(dir);
}

TEST(SkulkGgufTool, InfoTokenizeAndSynthAsAProcess) {
    if (!std::filesystem::exists(tool())) GTEST_SKIP() << "skulk-gguf not built at " << tool();
    const std::string model = (models_dir() / "llama-synth-v512-Q4_K_M.gguf").string();
    auto j = nlohmann::json::parse(run(tool() + " info '" + model + "' --json"));
    EXPECT_EQ(j["version"], 3);
    EXPECT_EQ(j["metadata"]["general.architecture"], "llama");
    EXPECT_EQ(j["metadata"]["tokenizer.ggml.tokens"]["count"], 512);
    EXPECT_EQ(j["tensors"].size(), 39u);
    auto vocab_path = models_dir() / "vocab" / "ggml-vocab-gpt-2.gguf";
    auto ids = nlohmann::json::parse(run(tool() + " tokenize '" + vocab_path.string() + "' 'Hello world'"));
    auto f = GgufFile::open(vocab_path);
    EXPECT_EQ(ids.get<std::vector<int32_t>>(), Vocab::from_gguf(*f)->tokenize("Hello world", true, false));
    auto dir = temp_dir();
    std::string out = (dir / "s.gguf").string();
    std::string r = run(tool() + " synth --arch qwen2 --shape custom --n-embd 384 --n-layer 3 --n-head 6 "
                                 "--n-head-kv 2 --n-ff 1024 --tied --type Q5_K_M --vocab-from '" +
                        (models_dir() / "stories260K.gguf").string() + "' --seed 9 '" + out + "'");
    ASSERT_EQ(r.rfind("EXIT", 0), std::string::npos) << r;
    // Same per-tensor types as llama-quantize's file of this shape.
    auto mine = GgufFile::open(out);
    auto theirs = GgufFile::open(models_dir() / "qwen2-synth-w384-Q5_K_M.gguf");
    for (const auto &t : theirs->tensors()) {
        ASSERT_NE(mine->tensor(t.name), nullptr) << t.name;
        EXPECT_EQ(mine->tensor(t.name)->type, t.type) << t.name;
    }
    std::string bad = run(tool() + " info /nonexistent.gguf 2>&1");
    EXPECT_NE(bad.find("/nonexistent.gguf: cannot open"), std::string::npos) << bad;
    std::filesystem::remove_all(dir);
}
