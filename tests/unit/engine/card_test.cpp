// The bundled model card: parses, points at the shipped GGUF, and states
// what the GGUF itself says (layers, width, KV heads, context, size).
#include "cards/card_parser.hpp"
#include "gguf/gguf.hpp"
#include "gguf/hparams.hpp"
#include "unit/engine/reference.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

namespace {

std::filesystem::path source_dir() {
    const char *s = std::getenv("SKULK_SOURCE_DIR");
    return s ? std::filesystem::path(s) : std::filesystem::current_path();
}

TEST(BundledCard, Stories260kMatchesItsGguf) {
    const auto parsed = skulk::cards::load_card_file(source_dir() / "cards" / "stories260k.toml");
    EXPECT_TRUE(parsed.warnings.empty());
    const auto &c = parsed.card;
    EXPECT_EQ(c.model_id, "stories260k");
    ASSERT_TRUE(c.source.is_local());
    ASSERT_TRUE(std::filesystem::exists(c.source.path)) << c.source.path;
    // The very file the conformance references were made from.
    EXPECT_EQ(skulk::test::sha256_of(c.source.path), "3c4a7c3a8313e00ae6a6b64df717828f4ba18391ea31ffb01abe9a2c4f7bb9a9");

    const auto file = skulk::model::GgufFile::open(c.source.path);
    const auto p = skulk::model::read_hparams(*file);
    EXPECT_EQ(c.family, p.arch);
    EXPECT_EQ(c.n_layers, p.n_layer);
    EXPECT_EQ(c.hidden_size, p.n_embd);
    EXPECT_EQ(c.num_key_value_heads, p.n_head_kv);
    EXPECT_EQ(c.context_length, p.n_ctx_train);
    EXPECT_EQ(c.storage_size, file->file_size());
    ASSERT_FALSE(c.placement.backend_preference.empty());
    EXPECT_EQ(c.placement.backend_preference.front(), "cpu_blas-cpu");
    EXPECT_NE(std::find(c.placement.compatible_backends.begin(), c.placement.compatible_backends.end(), "cpu_blas-cpu"),
              c.placement.compatible_backends.end());
}

} // namespace
