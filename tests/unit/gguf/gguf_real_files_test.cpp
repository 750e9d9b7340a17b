// The reader and hparams over the real shared model files. Expected values
// come from shared/models/SOURCES.md (written from the producing tools).
#include "gguf/gguf.hpp"
#include "gguf/hparams.hpp"
#include "quant/types.hpp"
#include "unit/test_paths.hpp"

#include <gtest/gtest.h>

#include <map>

using namespace skulk::model;
using skulk::test::models_dir;

namespace {
std::map<std::string, int> type_histogram(const GgufFile &f) {
    std::map<std::string, int> h;
    for (const auto &t : f.tensors()) h[std::string(skulk::quant::find_type(t.type)->name)]++;
    return h;
}
} // namespace

TEST(GgufRealFiles, Stories260K) {
    auto f = GgufFile::open(models_dir() / "stories260K.gguf");
    EXPECT_EQ(f->version(), 3u);
    EXPECT_EQ(f->file_size(), 1185344u);
    EXPECT_EQ(f->get_string("general.architecture"), "llama");
    EXPECT_EQ(f->get_string("tokenizer.ggml.model"), "llama");
    const GgufValue *toks = f->find("tokenizer.ggml.tokens");
    ASSERT_NE(toks, nullptr);
    ASSERT_TRUE(toks->is_array());
    EXPECT_EQ(toks->array_size(), 512u);
    EXPECT_EQ(toks->strings()[0], "<unk>");
    EXPECT_EQ(toks->strings()[1], "<s>");
    EXPECT_EQ(toks->strings()[3], "<0x00>");
    const GgufValue *types = f->find("tokenizer.ggml.token_type");
    ASSERT_NE(types, nullptr);
    EXPECT_EQ(types->elem_i64(3), 6); // byte token
    EXPECT_EQ(f->get_u32("tokenizer.ggml.bos_token_id"), 1u);
    EXPECT_EQ(f->get_u32("tokenizer.ggml.eos_token_id"), 2u);
    EXPECT_FALSE(f->find("tokenizer.ggml.add_bos_token"));
    // All tensors F32; the file's data ends at the file's end.
    auto h = type_histogram(*f);
    EXPECT_EQ(h.size(), 1u);
    EXPECT_EQ(h["F32"], 48);
    uint64_t end = 0;
    for (const auto &t : f->tensors()) {
        EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % f->alignment(), 0u) << t.name;
        end = std::max(end, f->data_offset() + t.offset + t.nbytes);
        EXPECT_EQ(t.nbytes, static_cast<uint64_t>(t.n_elements()) * 4) << t.name;
    }
    EXPECT_EQ(end, f->file_size());
    const GgufTensorInfo *emb = f->tensor("token_embd.weight");
    ASSERT_NE(emb, nullptr);
    EXPECT_EQ(emb->n_dims, 2u);
    EXPECT_EQ(emb->ne[0], 64);
    EXPECT_EQ(emb->ne[1], 512);
    EXPECT_EQ(f->tensor("no.such.tensor"), nullptr);

    ModelParams p = read_hparams(*f);
    EXPECT_EQ(p.arch, "llama");
    EXPECT_EQ(p.n_layer, 5u);
    EXPECT_EQ(p.n_embd, 64u);
    EXPECT_EQ(p.n_head, 8u);
    EXPECT_EQ(p.n_head_kv, 4u);
    EXPECT_EQ(p.head_dim_k, 8u);
    EXPECT_EQ(p.head_dim_v, 8u);
    EXPECT_EQ(p.n_ff, 172u);
    EXPECT_EQ(p.n_vocab, 512u);
    EXPECT_EQ(p.n_ctx_train, 512u);
    EXPECT_EQ(p.rope_freq_base, 10000.0f); // key absent: default
    EXPECT_EQ(p.rope_type, static_cast<uint32_t>(SKULK_ROPE_NORMAL));
    EXPECT_EQ(p.n_rot, 8u);
    EXPECT_FLOAT_EQ(p.rms_eps, 1e-5f);
    // SOURCES.md calls it "tied", but the llama2.c export stores output.weight
    // (a copy of token_embd): 5 layers x 9 + 3 = 48 tensors.
    EXPECT_NE(f->tensor("output.weight"), nullptr);
    EXPECT_FALSE(p.tied_output);
    EXPECT_EQ(p.rope_scaling, RopeScaling::none);
    EXPECT_EQ(p.rope_freq_scale, 1.0f);
}

TEST(GgufRealFiles, TinyStoriesQ8Mix) {
    auto f = GgufFile::open(models_dir() / "TinyStories-656K-Q8_0.gguf");
    auto h = type_histogram(*f);
    EXPECT_EQ(h["Q8_0"], 15);
    EXPECT_EQ(h["F32"], 5);
    EXPECT_EQ(f->get_bool("tokenizer.ggml.add_bos_token"), true);
    EXPECT_EQ(f->get_bool("tokenizer.ggml.add_eos_token"), false);
    ModelParams p = read_hparams(*f);
    EXPECT_EQ(p.n_layer, 2u);
    EXPECT_EQ(p.n_embd, 128u);
    EXPECT_EQ(p.head_dim_k, 16u);
    EXPECT_EQ(p.n_ff, 384u);
    EXPECT_EQ(p.n_vocab, 2048u);
    EXPECT_FLOAT_EQ(p.rms_eps, 1e-6f);
}

TEST(GgufRealFiles, SyntheticTypeMixesMatchSources) {
    struct Want {
        const char *file;
        std::map<std::string, int> hist;
    };
    const Want wants[] = {
        {"llama-synth-v512-Q8_0.gguf", {{"Q8_0", 30}, {"F32", 9}}},
        {"llama-synth-v512-Q4_0.gguf", {{"Q4_0", 29}, {"F32", 9}, {"Q6_K", 1}}},
        {"llama-synth-v512-Q4_K_M.gguf", {{"Q4_K", 25}, {"F32", 9}, {"Q6_K", 5}}},
        {"llama-synth-v512-Q5_K_M.gguf", {{"Q5_K", 25}, {"F32", 9}, {"Q6_K", 5}}},
        {"llama-synth-v512-Q6_K.gguf", {{"Q6_K", 30}, {"F32", 9}}},
        {"llama-synth-v512-Q4_1.gguf", {{"Q4_1", 30}, {"F32", 9}}},
        {"llama-synth-v512-Q5_0.gguf", {{"Q5_0", 30}, {"F32", 9}}},
        {"llama-synth-v512-Q5_1.gguf", {{"Q5_1", 30}, {"F32", 9}}},
        {"llama-synth-small-Q4_K_M.gguf", {{"Q4_K", 25}, {"F32", 9}, {"Q6_K", 5}}},
        {"qwen2-synth-small-Q8_0.gguf", {{"Q8_0", 29}, {"F32", 21}}},
        {"qwen2-synth-small-Q4_K_M.gguf", {{"Q4_K", 24}, {"F32", 21}, {"Q6_K", 5}}},
        {"qwen2-synth-w384-Q4_K_M.gguf", {{"Q5_0", 17}, {"F32", 16}, {"Q8_0", 2}, {"Q4_K", 2}, {"Q6_K", 1}}},
        {"qwen2-synth-w384-Q5_K_M.gguf", {{"Q5_1", 17}, {"F32", 16}, {"Q8_0", 2}, {"Q5_K", 2}, {"Q6_K", 1}}},
    };
    for (const auto &w : wants) {
        SCOPED_TRACE(w.file);
        auto f = GgufFile::open(models_dir() / w.file);
        EXPECT_EQ(type_histogram(*f), w.hist);
        EXPECT_NO_THROW(read_hparams(*f));
    }
}

TEST(GgufRealFiles, Qwen2Hparams) {
    auto f = GgufFile::open(models_dir() / "qwen2-synth-w384-Q4_K_M.gguf");
    ModelParams p = read_hparams(*f);
    EXPECT_EQ(p.arch, "qwen2");
    EXPECT_EQ(p.n_embd, 384u);
    EXPECT_EQ(p.n_layer, 3u);
    EXPECT_EQ(p.n_head, 6u);
    EXPECT_EQ(p.n_head_kv, 2u);
    EXPECT_EQ(p.head_dim_k, 64u);
    EXPECT_EQ(p.n_ff, 1024u);
    EXPECT_EQ(p.n_ctx_train, 2048u);
    EXPECT_EQ(p.rope_freq_base, 1e6f);
    EXPECT_FLOAT_EQ(p.rms_eps, 1e-6f);
    EXPECT_EQ(p.rope_type, static_cast<uint32_t>(SKULK_ROPE_NEOX));
    EXPECT_TRUE(p.tied_output);
    EXPECT_EQ(p.n_vocab, 512u);

    auto g = GgufFile::open(models_dir() / "llama-synth-small-Q4_K_M.gguf");
    ModelParams q = read_hparams(*g);
    EXPECT_FALSE(q.tied_output);
    EXPECT_EQ(q.n_vocab, 32000u);
    EXPECT_EQ(q.head_dim_k, 32u);

    skulk_model_params a = to_abi(p);
    EXPECT_EQ(a.size, sizeof(skulk_model_params));
    EXPECT_EQ(std::string(a.arch.ptr, a.arch.len), "qwen2");
    EXPECT_EQ(a.n_embd, 384u);
    EXPECT_EQ(a.n_head_kv, 2u);
    EXPECT_EQ(a.rope_type, static_cast<uint32_t>(SKULK_ROPE_NEOX));
    EXPECT_EQ(a.rope_freq_base, 1e6f);
    EXPECT_EQ(a.n_vocab, 512u);
    EXPECT_EQ(a.rope_freq_scale, 1.0f);
}

TEST(GgufRealFiles, VocabOnlyFileHasUnsupportedArch) {
    auto f = GgufFile::open(models_dir() / "vocab" / "ggml-vocab-phi-3.gguf");
    EXPECT_TRUE(f->tensors().empty());
    try {
        read_hparams(*f);
        FAIL() << "phi3 accepted";
    } catch (const GgufError &e) {
        std::string m = e.what();
        EXPECT_NE(m.find("ggml-vocab-phi-3.gguf"), std::string::npos) << m;
        EXPECT_NE(m.find("'phi3'"), std::string::npos) << m;
        EXPECT_NE(m.find("llama, qwen2, qwen3"), std::string::npos) << m;
    }
}

TEST(GgufRealFiles, MissingFileIsClearError) {
    try {
        GgufFile::open("/nonexistent/model.gguf");
        FAIL();
    } catch (const GgufError &e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/model.gguf: cannot open"), std::string::npos) << e.what();
    }
}
