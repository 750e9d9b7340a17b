// The card store on real folders: built-in + custom, broken files skipped,
// custom cards added (persisted atomically) and deleted.
#include "cards/card_parser.hpp"
#include "cards/card_store.hpp"
#include "card_test_util.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <thread>

using namespace skulk::cards;
using namespace skulk::cards::test;
namespace fs = std::filesystem;

namespace {

// A built-in folder holding copies of every fixture card (2 good, 4 broken).
struct StoreFixture : ::testing::Test {
    TempDir tmp;
    fs::path builtin, custom;
    void SetUp() override {
        builtin = tmp.path / "builtin";
        custom = tmp.path / "data" / "custom_cards";
        fs::create_directories(builtin);
        for (const auto &e : fs::directory_iterator(data_dir())) fs::copy_file(e.path(), builtin / e.path().filename());
    }
    ModelCard custom_card(const std::string &id) {
        auto c = parse_card_text("model_id = \"" + id +
                                     "\"\nn_layers = 3\n[source]\npath = \"/models/" + id +
                                     ".gguf\"\n[placement]\ncompatible_backends = [\"cpu_blas-cpu\"]\n",
                                 "test", "/").card;
        return c;
    }
};

} // namespace

TEST_F(StoreFixture, LoadsGoodCardsAndReportsBrokenOnes) {
    CardStore store(builtin, custom);
    EXPECT_EQ(store.reload(), 2u);
    ASSERT_TRUE(store.find("tiny-good"));
    ASSERT_TRUE(store.find("org/tiny-hf:Q4_K_M"));
    EXPECT_FALSE(store.find("tiny-good")->is_custom);
    const auto errors = store.load_errors();
    ASSERT_EQ(errors.size(), 4u);
    for (const char *name : {"bad_type.toml", "missing_id.toml", "bad_tag.toml", "syntax.toml"}) {
        bool named = false;
        for (const auto &e : errors) named |= e.find(name) != std::string::npos;
        EXPECT_TRUE(named) << name << " not reported";
    }
    const auto list = store.list();
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[0].model_id, "org/tiny-hf:Q4_K_M") << "sorted by id";
}

TEST_F(StoreFixture, AddCustomPersistsAndSurvivesAReload) {
    CardStore store(builtin, custom);
    store.reload();
    const auto added = store.add_custom(custom_card("me/my-model:q8"));
    EXPECT_TRUE(added.is_custom);
    EXPECT_EQ(added.file, custom / card_file_name("me/my-model:q8"));
    EXPECT_TRUE(fs::exists(added.file));
    // No temp file left behind by the atomic write.
    size_t files = 0;
    for ([[maybe_unused]] const auto &e : fs::directory_iterator(custom)) ++files;
    EXPECT_EQ(files, 1u);
    ASSERT_TRUE(store.find("me/my-model:q8"));

    CardStore fresh(builtin, custom);
    EXPECT_EQ(fresh.reload(), 3u);
    const auto again = fresh.find("me/my-model:q8");
    ASSERT_TRUE(again);
    EXPECT_TRUE(again->is_custom);
    EXPECT_EQ(again->n_layers, 3u);
    EXPECT_EQ(again->source.path, "/models/me/my-model:q8.gguf");
}

TEST_F(StoreFixture, AddReplacesCustomButNotBuiltin) {
    CardStore store(builtin, custom);
    store.reload();
    auto c = custom_card("mine");
    store.add_custom(c);
    c.n_layers = 9;
    store.add_custom(c);
    EXPECT_EQ(store.find("mine")->n_layers, 9u);
    try {
        store.add_custom(custom_card("tiny-good"));
        FAIL() << "replacing a built-in card was accepted";
    } catch (const CardStoreError &e) {
        EXPECT_EQ(e.kind(), CardStoreError::Kind::conflict);
        EXPECT_NE(std::string(e.what()).find("built-in"), std::string::npos);
    }
}

TEST_F(StoreFixture, DeleteCustomOnlyAndUnknownIsNotFound) {
    CardStore store(builtin, custom);
    store.reload();
    const auto added = store.add_custom(custom_card("gone-soon"));
    store.delete_custom("gone-soon");
    EXPECT_FALSE(store.find("gone-soon"));
    EXPECT_FALSE(fs::exists(added.file));
    try {
        store.delete_custom("gone-soon");
        FAIL();
    } catch (const CardStoreError &e) {
        EXPECT_EQ(e.kind(), CardStoreError::Kind::not_found);
    }
    try {
        store.delete_custom("tiny-good");
        FAIL();
    } catch (const CardStoreError &e) {
        EXPECT_EQ(e.kind(), CardStoreError::Kind::conflict);
    }
    EXPECT_TRUE(store.find("tiny-good"));
    EXPECT_TRUE(fs::exists(builtin / "good.toml"));
}

TEST_F(StoreFixture, CustomCardCannotShadowABuiltinOnDisk) {
    // A custom file with a built-in id (e.g. written by hand) is skipped.
    fs::create_directories(custom);
    fs::copy_file(builtin / "good.toml", custom / "copy.toml");
    CardStore store(builtin, custom);
    EXPECT_EQ(store.reload(), 2u);
    EXPECT_FALSE(store.find("tiny-good")->is_custom);
    bool reported = false;
    for (const auto &e : store.load_errors()) reported |= e.find("already defined") != std::string::npos;
    EXPECT_TRUE(reported);
}

TEST_F(StoreFixture, ConcurrentReadersAndWriters) {
    CardStore store(builtin, custom);
    store.reload();
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 25; ++i) {
                const std::string id = "c" + std::to_string(t) + "-" + std::to_string(i);
                store.add_custom(custom_card(id));
                EXPECT_TRUE(store.find(id));
                EXPECT_GE(store.list().size(), 3u);
                if (i % 2) store.delete_custom(id);
            }
        });
    for (auto &th : threads) th.join();
    CardStore fresh(builtin, custom);
    EXPECT_EQ(fresh.reload(), 2u + 4u * 13u);
}

TEST(CardStoreDirs, FileNamesAndBuiltinDirLookup) {
    EXPECT_EQ(card_file_name("org/model:q4"), "org--model_q4.toml");
    EXPECT_EQ(card_file_name(".."), "card-...toml");
    EXPECT_EQ(find_builtin_cards_dir("/explicit"), fs::path("/explicit"));
    ::setenv("SKULK_CARDS_DIR", "/from/env", 1);
    EXPECT_EQ(find_builtin_cards_dir({}), fs::path("/from/env"));
    ::unsetenv("SKULK_CARDS_DIR");
    // Without flag or env it falls back to the source tree's cards/ (when it exists).
    const fs::path src = SKULK_TEST_SOURCE_DIR;
    if (fs::is_directory(src / "cards")) {
        EXPECT_EQ(fs::weakly_canonical(find_builtin_cards_dir({})), fs::weakly_canonical(fs::path(src) / "cards"));
    }
}

// The replicated path: prepare_custom checks without writing, and another
// node's add_custom_toml of that text stores the same card; applying the
// same text again leaves the file untouched (a re-applied event or a
// snapshot must not rewrite every card).
TEST_F(StoreFixture, ReplicatedTextIsStoredOnceAndIdempotently) {
    CardStore origin(builtin, tmp.path / "a" / "custom_cards"), other(builtin, custom);
    origin.reload();
    other.reload();
    const std::string text = origin.prepare_custom(custom_card("org/shared"));
    EXPECT_FALSE(origin.find("org/shared")) << "prepare_custom writes nothing";
    EXPECT_FALSE(fs::exists(tmp.path / "a" / "custom_cards" / "org--shared.toml"));
    EXPECT_THROW(origin.prepare_custom(custom_card("tiny-good")), CardStoreError) << "a built-in id";

    const auto stored = other.add_custom_toml(text);
    EXPECT_TRUE(stored.is_custom);
    EXPECT_EQ(stored.file, custom / "org--shared.toml");
    EXPECT_EQ(card_to_toml(stored), text);
    const auto mtime = fs::last_write_time(stored.file);
    fs::last_write_time(stored.file, mtime - std::chrono::hours(1)); // so a rewrite would show
    other.add_custom_toml(text);
    EXPECT_EQ(fs::last_write_time(stored.file), mtime - std::chrono::hours(1)) << "same text: not rewritten";
    EXPECT_THROW(other.add_custom_toml("model_id = 3\n"), CardStoreError);
}
