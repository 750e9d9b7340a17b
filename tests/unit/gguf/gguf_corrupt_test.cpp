// Every validation path of the GGUF reader, each with a file built byte by
// byte to be wrong in exactly one way, plus the writer's round trip.
#include "gguf/gguf.hpp"
#include "gguf/gguf_writer.hpp"
#include "gguf/hparams.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include <unistd.h>

using namespace skulk::model;

namespace {

// A little-endian byte builder.
struct Raw {
    std::string b;
    Raw &u8(uint8_t v) { return put(v); }
    Raw &u32(uint32_t v) { return put(v); }
    Raw &u64(uint64_t v) { return put(v); }
    Raw &f32(float v) { return put(v); }
    Raw &str(std::string_view s) {
        u64(s.size());
        b.append(s);
        return *this;
    }
    Raw &pad_to(size_t align) {
        b.resize((b.size() + align - 1) / align * align, '\0');
        return *this;
    }
    Raw &zeros(size_t n) {
        b.append(n, '\0');
        return *this;
    }
    template <typename T> Raw &put(T v) {
        b.append(reinterpret_cast<const char *>(&v), sizeof v);
        return *this;
    }
};

Raw header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    Raw r;
    r.u32(0x46554747).u32(version).u64(n_tensors).u64(n_kv);
    return r;
}
// A u32 key/value.
Raw &kv_u32(Raw &r, std::string_view key, uint32_t v) { return r.str(key).u32(4).u32(v); }
// A tensor info record.
Raw &tinfo(Raw &r, std::string_view name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset) {
    r.str(name).u32(static_cast<uint32_t>(ne.size()));
    for (auto d : ne) r.u64(d);
    return r.u32(type).u64(offset);
}
// One F32 tensor [8, 2] with its data: a file that is valid.
Raw valid_file() {
    Raw r = header(1, 1);
    kv_u32(r, "a.key", 7);
    tinfo(r, "t", {8, 2}, 0, 0);
    r.pad_to(32).zeros(64);
    return r;
}

void expect_error(const std::string &bytes, const std::string &what) {
    try {
        GgufFile::from_memory(bytes, "bad.gguf");
        ADD_FAILURE() << "accepted; expected: " << what;
    } catch (const GgufError &e) {
        std::string m = e.what();
        EXPECT_EQ(m.rfind("bad.gguf: ", 0), 0u) << m;
        EXPECT_NE(m.find(what), std::string::npos) << "message: " << m << "\nwanted: " << what;
    }
}

} // namespace

TEST(GgufCorrupt, ValidBaselineLoads) {
    auto f = GgufFile::from_memory(valid_file().b, "ok.gguf");
    EXPECT_EQ(f->get_u32("a.key"), 7u);
    ASSERT_EQ(f->tensors().size(), 1u);
    EXPECT_EQ(f->tensors()[0].nbytes, 64u);
    EXPECT_EQ(f->data_offset() % 32, 0u);
}

TEST(GgufCorrupt, HeaderProblems) {
    expect_error("GG", "not a GGUF file: only 2 bytes");
    expect_error("GGML\x03\0\0\0", "bad magic");
    expect_error(header(0, 0, 1).b, "GGUF version 1 is not supported");
    expect_error(header(0, 0, 4).b, "unsupported GGUF version 4");
    expect_error(header(0, 0, 0x03000000).b, "big-endian GGUF files are not supported");
    expect_error(header(0, 0).b.substr(0, 12), "truncated file: tensor count");
    expect_error(header(0, 0).b.substr(0, 20), "truncated file: metadata count");
    expect_error(header(0, 1'000'000'000'000ull).b, "metadata count 1000000000000 cannot fit");
    expect_error(header(~0ull, 0).b, "cannot fit in a file");
}

TEST(GgufCorrupt, MetadataProblems) {
    Raw r = header(0, 1);
    r.u64(1000).b += "short";
    expect_error(r.b, "metadata key #0: string length 1000");

    r = header(0, 1);
    r.str("k").u32(13).u32(0);
    expect_error(r.b, "metadata 'k': unknown value type 13");

    r = header(0, 1);
    r.str("k").u32(4);
    expect_error(r.b, "truncated file: metadata 'k' needs 4 bytes");

    r = header(0, 1);
    r.str("k").u32(9).u32(9).u64(1).zeros(16);
    expect_error(r.b, "metadata 'k': nested arrays are not supported");

    r = header(0, 1);
    r.str("k").u32(9).u32(5).u64(0x4000000000000001ull).zeros(16); // n * 4 overflows
    expect_error(r.b, "metadata 'k': array of 4611686018427387905 i32");

    r = header(0, 1);
    r.str("k").u32(9).u32(12).u64(100).zeros(16);
    expect_error(r.b, "runs past the end of the file");

    r = header(0, 1);
    r.str("k").u32(9).u32(8).u64(1'000'000).zeros(16);
    expect_error(r.b, "array of 1000000 strings");

    r = header(0, 1);
    r.str("k").u32(9).u32(8).u64(2).str("x").u64(99);
    expect_error(r.b, "string length 99");

    r = header(0, 1);
    r.str("k").u32(9).u32(77).u64(1).zeros(16);
    expect_error(r.b, "metadata 'k' (array element type): unknown value type 77");

    r = header(0, 2);
    kv_u32(r, "dup", 1);
    kv_u32(r, "dup", 2);
    expect_error(r.b, "duplicate metadata key 'dup'");

    r = header(0, 1);
    kv_u32(r, "general.alignment", 48);
    expect_error(r.b, "general.alignment must be a u32 power of two");
    r = header(0, 1);
    r.str("general.alignment").u32(10).u64(32);
    expect_error(r.b, "general.alignment must be a u32 power of two");
}

TEST(GgufCorrupt, TensorProblems) {
    auto one = [](std::vector<uint64_t> ne, uint32_t type, uint64_t offset, size_t data = 64) {
        Raw r = header(1, 0);
        tinfo(r, "blk.0.attn_q.weight", std::move(ne), type, offset);
        r.pad_to(32).zeros(data);
        return r.b;
    };
    expect_error(one({}, 0, 0), "tensor 'blk.0.attn_q.weight': n_dims 0 is out of range (1..4)");
    expect_error(one({1, 1, 1, 1, 1}, 0, 0), "n_dims 5 is out of range");
    expect_error(one({8, 0}, 0, 0), "dimension 1 has invalid size 0");
    expect_error(one({8, ~0ull}, 0, 0), "dimension 1 has invalid size -1");
    expect_error(one({1ull << 40, 1ull << 40}, 0, 0), "element count overflows");
    expect_error(one({8, 2}, 5, 0), "unknown tensor type 5");
    expect_error(one({48, 1}, 2, 0), "row of 48 elements is not a whole number of Q4_0 blocks (32 elements each)");
    expect_error(one({8, 2}, 0, 16), "data offset 16 is not a multiple of the alignment 32");
    expect_error(one({1ull << 62}, 0, 0), "byte size overflows");
    expect_error(one({8, 4}, 0, 0),
                 "tensor 'blk.0.attn_q.weight' data [offset 0, 128 bytes] runs past the end of the file");
    expect_error(one({8, 2}, 0, 0xFFFFFFFFFFFFFFE0ull), "runs past the end of the file");
    // Truncated inside the tensor info.
    Raw r = header(1, 0);
    r.str("t").u32(4).u64(8).u64(8);
    expect_error(r.b, "truncated file: tensor 't' dimensions");
    // Two tensors with one name.
    r = header(2, 0);
    tinfo(r, "t", {8}, 0, 0);
    tinfo(r, "t", {8}, 0, 32);
    r.pad_to(32).zeros(64);
    expect_error(r.b, "duplicate tensor name 't'");
    // The header ends where the data section should begin.
    r = header(1, 0);
    tinfo(r, "t", {8}, 0, 0);
    r.zeros(1);
    expect_error(r.b, "data section at offset 64 starts past the end of the file");
}

TEST(GgufCorrupt, FilesThatAreNotGguf) {
    auto dir = std::filesystem::temp_directory_path() / ("skulk-gguf-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    { std::ofstream(dir / "empty.gguf"); }
    try {
        GgufFile::open(dir / "empty.gguf");
        ADD_FAILURE();
    } catch (const GgufError &e) {
        EXPECT_NE(std::string(e.what()).find("empty.gguf: not a GGUF file: only 0 bytes"), std::string::npos) << e.what();
    }
    try {
        GgufFile::open(dir);
        ADD_FAILURE();
    } catch (const GgufError &e) {
        EXPECT_NE(std::string(e.what()).find("not a regular file"), std::string::npos) << e.what();
    }
    // A valid file written to disk opens through mmap the same as in memory.
    { std::ofstream(dir / "ok.gguf", std::ios::binary) << valid_file().b; }
    auto f = GgufFile::open(dir / "ok.gguf");
    EXPECT_EQ(f->get_u32("a.key"), 7u);
    EXPECT_EQ(f->path(), dir / "ok.gguf");
    std::filesystem::remove_all(dir);
}

TEST(GgufCorrupt, AccessorTypeErrorsNameTheKey) {
    Raw r = header(0, 2);
    r.str("s").u32(8).str("text");
    kv_u32(r, "n", 5);
    auto f = GgufFile::from_memory(r.b, "m.gguf");
    EXPECT_EQ(f->get_string("s"), "text");
    EXPECT_EQ(f->get_u32("n"), 5u);
    EXPECT_EQ(f->get_f32("n"), 5.0f); // integers widen to float
    EXPECT_FALSE(f->get_u32("absent"));
    try {
        f->get_u32("s");
        FAIL();
    } catch (const GgufError &e) {
        EXPECT_STREQ(e.what(), "m.gguf: metadata 's' should be an integer, not string");
    }
    EXPECT_THROW(f->get_string("n"), GgufError);
    EXPECT_THROW(f->get_bool("n"), GgufError);
}

TEST(GgufCorrupt, HparamsProblems) {
    auto file = [](std::function<void(GgufWriter &)> edit) {
        GgufWriter w;
        w.set_string("general.architecture", "llama");
        w.set_u32("llama.block_count", 2);
        w.set_u32("llama.embedding_length", 64);
        w.set_u32("llama.feed_forward_length", 128);
        w.set_u32("llama.attention.head_count", 4);
        w.set_u32("llama.context_length", 256);
        w.set_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
        w.set_u32("llama.vocab_size", 100);
        edit(w);
        return GgufFile::from_memory(w.to_bytes(), "h.gguf");
    };
    auto expect = [](std::shared_ptr<GgufFile> f, const std::string &what) {
        try {
            read_hparams(*f);
            ADD_FAILURE() << "accepted: " << what;
        } catch (const GgufError &e) {
            EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
        }
    };
    ModelParams ok = read_hparams(*file([](GgufWriter &) {}));
    EXPECT_EQ(ok.n_head_kv, 4u);  // defaults to n_head
    EXPECT_EQ(ok.head_dim_k, 16u);
    EXPECT_EQ(ok.n_rot, 16u);
    EXPECT_EQ(ok.n_vocab, 100u);
    expect(file([](GgufWriter &w) { w.set_u32("llama.attention.head_count_kv", 3); }),
           "'llama.attention.head_count_kv' = 3 must be > 0 and divide the head count 4");
    expect(file([](GgufWriter &w) { w.set_u32("llama.rope.dimension_count", 64); }), "rope.dimension_count");
    expect(file([](GgufWriter &w) { w.set_string("llama.rope.scaling.type", "weird"); }),
           "unsupported rope scaling type 'weird'");
    ModelParams lin = read_hparams(*file([](GgufWriter &w) {
        w.set_string("llama.rope.scaling.type", "linear");
        w.set_f32("llama.rope.scaling.factor", 4.0f);
    }));
    EXPECT_EQ(lin.rope_scaling, RopeScaling::linear);
    EXPECT_FLOAT_EQ(lin.rope_freq_scale, 0.25f);
    ModelParams yarn = read_hparams(*file([](GgufWriter &w) {
        w.set_string("llama.rope.scaling.type", "yarn");
        w.set_f32("llama.rope.scaling.factor", 2.0f);
        w.set_u32("llama.rope.scaling.original_context_length", 128);
    }));
    EXPECT_EQ(yarn.rope_scaling, RopeScaling::yarn);
    EXPECT_EQ(yarn.rope_yarn_ext_factor, 1.0f);
    EXPECT_EQ(yarn.rope_scaling_orig_ctx, 128u);

    GgufWriter w;
    w.set_string("general.architecture", "llama");
    expect(GgufFile::from_memory(w.to_bytes(), "h.gguf"), "h.gguf: missing required metadata 'llama.block_count'");
    GgufWriter g;
    g.set_string("general.architecture", "gpt-j");
    expect(GgufFile::from_memory(g.to_bytes(), "h.gguf"),
           "unsupported architecture 'gpt-j' (supported: llama, qwen2, qwen3)");
    GgufWriter q3;
    q3.set_string("general.architecture", "qwen3");
    q3.set_u32("qwen3.block_count", 2);
    q3.set_u32("qwen3.embedding_length", 64);
    q3.set_u32("qwen3.feed_forward_length", 128);
    q3.set_u32("qwen3.attention.head_count", 4);
    q3.set_u32("qwen3.attention.head_count_kv", 2);
    q3.set_u32("qwen3.attention.key_length", 32); // qwen3 heads are wider than n_embd / n_head
    q3.set_u32("qwen3.attention.value_length", 32);
    q3.set_u32("qwen3.context_length", 256);
    q3.set_f32("qwen3.attention.layer_norm_rms_epsilon", 1e-6f);
    q3.set_u32("qwen3.vocab_size", 10);
    ModelParams p3 = read_hparams(*GgufFile::from_memory(q3.to_bytes(), "q3.gguf"));
    EXPECT_EQ(p3.head_dim_k, 32u);
    EXPECT_EQ(p3.n_rot, 32u);
    EXPECT_EQ(p3.rope_type, static_cast<uint32_t>(SKULK_ROPE_NEOX));
}

TEST(GgufWriterTest, RoundTripsMetadataAndTensors) {
    GgufWriter w(64);
    w.set_string("general.architecture", "llama");
    w.set_strings("tokenizer.ggml.tokens", {"a", "bb", ""});
    w.set_f32s("tokenizer.ggml.scores", {0.5f, -1.0f, 2.0f});
    w.set_i32s("tokenizer.ggml.token_type", {1, 3, 6});
    w.set_bool("b", true);
    w.set_u64("big", 1ull << 40);
    w.set_i32("neg", -5);
    std::string t1(8 * 3 * 4, '\0');
    for (size_t i = 0; i < t1.size(); ++i) t1[i] = static_cast<char>(i);
    w.add_tensor("t1", 0, {8, 3}, t1);
    w.add_tensor("t2", 8, {64}, std::string(68, '\x11')); // two Q8_0 blocks
    EXPECT_THROW(w.add_tensor("bad", 8, {48}, std::string()), std::invalid_argument);
    auto f = GgufFile::from_memory(w.to_bytes(), "w.gguf");
    EXPECT_EQ(f->alignment(), 64u);
    EXPECT_EQ(f->find("tokenizer.ggml.tokens")->strings()[1], "bb");
    EXPECT_EQ(f->find("tokenizer.ggml.tokens")->strings()[2], "");
    EXPECT_EQ(f->find("tokenizer.ggml.scores")->elem<float>(2), 2.0f);
    EXPECT_EQ(f->find("tokenizer.ggml.token_type")->elem_i64(1), 3);
    EXPECT_EQ(f->get_bool("b"), true);
    EXPECT_EQ(f->get_u64("big"), 1ull << 40);
    EXPECT_EQ(f->get_i32("neg"), -5);
    EXPECT_THROW(f->get_u32("neg"), GgufError);
    ASSERT_EQ(f->tensors().size(), 2u);
    EXPECT_EQ(std::memcmp(f->tensor("t1")->data, t1.data(), t1.size()), 0);
    EXPECT_EQ(f->tensor("t2")->offset % 64, 0u);
    EXPECT_EQ(static_cast<const uint8_t *>(f->tensor("t2")->data)[67], 0x11);

    // copy_value reproduces every value byte for byte.
    GgufWriter c;
    for (const auto &kv : f->metadata()) c.copy_value(std::string(kv.key), kv.value);
    auto g = GgufFile::from_memory(c.to_bytes(), "c.gguf");
    EXPECT_EQ(g->metadata().size(), f->metadata().size());
    EXPECT_EQ(g->get_i32("neg"), -5);
    EXPECT_EQ(g->find("tokenizer.ggml.scores")->elem<float>(0), 0.5f);
    EXPECT_EQ(g->find("b")->type(), GgufValueType::boolean);
}
