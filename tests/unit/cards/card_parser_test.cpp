// The TOML card reader on real files, good and broken.
#include "cards/card_parser.hpp"
#include "card_test_util.hpp"

#include <gtest/gtest.h>

#include <random>
#include <typeinfo>

using namespace skulk::cards;
using namespace skulk::cards::test;

namespace {

// Loads a card that must fail; returns the error.
CardError load_error(const std::string &name) {
    try {
        load_card_file(data_dir() / name);
    } catch (const CardError &e) {
        return e;
    }
    ADD_FAILURE() << name << " loaded but should have failed";
    return CardError("", 0, "", "");
}

} // namespace

TEST(CardParser, ReadsEveryFieldOfAGoodCard) {
    const auto file = data_dir() / "good.toml";
    const auto parsed = load_card_file(file);
    const ModelCard &c = parsed.card;
    EXPECT_TRUE(parsed.warnings.empty());
    EXPECT_EQ(c.model_id, "tiny-good");
    EXPECT_EQ(c.name, "Tiny Good");
    EXPECT_EQ(c.family, "llama");
    EXPECT_EQ(c.quantization, "F32");
    EXPECT_EQ(c.n_layers, 5u);
    EXPECT_EQ(c.hidden_size, 64u);
    EXPECT_EQ(c.num_key_value_heads, 4u);
    EXPECT_EQ(c.context_length, 512u);
    EXPECT_EQ(c.storage_size, 1185344u);
    EXPECT_EQ(c.tasks, std::vector<std::string>{"TextGeneration"});
    EXPECT_EQ(c.capabilities, std::vector<std::string>{"text"});
    EXPECT_FALSE(c.supports_tensor);
    // source.path is relative to the card's own folder.
    EXPECT_EQ(c.source.path_as_written, "models/tiny.gguf");
    EXPECT_EQ(c.source.path, (data_dir() / "models/tiny.gguf").lexically_normal());
    EXPECT_TRUE(c.source.hf_repo.empty());
    EXPECT_EQ(c.placement.compatible_backends,
              (std::vector<std::string>{"cpu_blas-cpu", "vulkan-cpu", "vulkan-gpu"}));
    EXPECT_EQ(c.placement.backend_preference, std::vector<std::string>{"cpu_blas-cpu"});
    ASSERT_TRUE(c.placement.max_context_tokens);
    EXPECT_EQ(*c.placement.max_context_tokens, 512u);
    ASSERT_TRUE(c.runtime.chat_template);
    EXPECT_EQ(*c.runtime.chat_template, "{{ messages }}");
    EXPECT_EQ(c.file, file);
}

TEST(CardParser, HuggingFaceSourceAndDefaults) {
    const auto c = load_card_file(data_dir() / "hf.toml").card;
    EXPECT_EQ(c.model_id, "org/tiny-hf:Q4_K_M");
    EXPECT_EQ(c.name, c.model_id) << "name defaults to the id";
    EXPECT_EQ(c.source.hf_repo, "org/tiny-hf");
    EXPECT_EQ(c.source.hf_file, "tiny-Q4_K_M.gguf");
    EXPECT_FALSE(c.source.is_local());
    EXPECT_EQ(c.tasks, std::vector<std::string>{"TextGeneration"});
    EXPECT_FALSE(c.placement.max_context_tokens);
}

TEST(CardParser, BadTypeNamesFileLineAndField) {
    const auto e = load_error("bad_type.toml");
    EXPECT_EQ(e.field(), "n_layers");
    EXPECT_EQ(e.line(), line_containing(data_dir() / "bad_type.toml", "n_layers"));
    const std::string msg = e.what();
    EXPECT_NE(msg.find("bad_type.toml:" + std::to_string(e.line())), std::string::npos) << msg;
    EXPECT_NE(msg.find("expected an integer, got a string"), std::string::npos) << msg;
}

TEST(CardParser, MissingModelIdIsReported) {
    const auto e = load_error("missing_id.toml");
    EXPECT_EQ(e.field(), "model_id");
    EXPECT_NE(std::string(e.what()).find("missing_id.toml"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("required"), std::string::npos);
}

TEST(CardParser, BackendTagFormatIsChecked) {
    const auto e = load_error("bad_tag.toml");
    EXPECT_EQ(e.field(), "placement.compatible_backends[1]");
    EXPECT_EQ(e.line(), line_containing(data_dir() / "bad_tag.toml", "Vulkan GPU"));
    EXPECT_NE(std::string(e.what()).find("<engine>-<compute>"), std::string::npos) << e.what();
}

TEST(CardParser, SyntaxErrorCarriesTheLine) {
    const auto e = load_error("syntax.toml");
    EXPECT_EQ(e.line(), line_containing(data_dir() / "syntax.toml", "= ="));
    const std::string msg = e.what();
    EXPECT_NE(msg.find("syntax.toml:" + std::to_string(e.line()) + ":"), std::string::npos) << msg;
}

TEST(CardParser, SemanticChecks) {
    auto fails = [](const std::string &text, const std::string &field) {
        try {
            parse_card_text(text, "inline", "/tmp");
        } catch (const CardError &e) {
            EXPECT_EQ(e.field(), field) << e.what();
            return;
        }
        ADD_FAILURE() << "accepted: " << text;
    };
    const std::string tail = "\n[source]\npath = \"x.gguf\"\n[placement]\ncompatible_backends = [\"cpu_blas-cpu\"]\n";
    fails("model_id = \"bad id!\"\n" + tail, "model_id");
    fails("model_id = \"m\"\nn_layers = -1\n" + tail, "n_layers");
    fails("model_id = \"m\"\ntasks = [\"Dance\"]\n" + tail, "tasks[0]");
    fails("model_id = \"m\"\ncapabilities = [1]\n" + tail, "capabilities[0]");
    fails("model_id = \"m\"\nsupports_tensor = \"yes\"\n" + tail, "supports_tensor");
    fails("model_id = \"m\"\n[placement]\ncompatible_backends = [\"cpu_blas-cpu\"]\n", "source");
    fails("model_id = \"m\"\n[source]\npath = \"a\"\nhf_repo = \"o/r\"\nhf_file = \"f\"\n"
          "[placement]\ncompatible_backends = [\"cpu_blas-cpu\"]\n",
          "source");
    fails("model_id = \"m\"\n[source]\nhf_repo = \"o/r\"\n[placement]\ncompatible_backends = [\"cpu_blas-cpu\"]\n",
          "source.hf_file");
    fails("model_id = \"m\"\n[source]\npath = \"x\"\n", "placement.compatible_backends");
    fails("model_id = \"m\"\n[source]\npath = \"x\"\n[placement]\ncompatible_backends = [\"cpu_blas-cpu\"]\n"
          "backend_preference = [\"vulkan-gpu\"]\n",
          "placement.backend_preference[0]");
    fails("model_id = \"m\"\nsource = 3\n", "source");
}

TEST(CardParser, UnknownKeysAreWarningsNotErrors) {
    const auto parsed = parse_card_text("model_id = \"m\"\nflavour = \"mint\"\n[source]\npath = \"/abs/x.gguf\"\n"
                                        "[placement]\ncompatible_backends = [\"cpu_blas-cpu\"]\n",
                                        "inline", "/ignored");
    ASSERT_EQ(parsed.warnings.size(), 1u);
    EXPECT_NE(parsed.warnings[0].find("inline:2: unknown field 'flavour'"), std::string::npos) << parsed.warnings[0];
    EXPECT_EQ(parsed.card.source.path, "/abs/x.gguf") << "absolute paths stay as they are";
}

TEST(CardParser, TomlRoundTrip) {
    const auto original = load_card_file(data_dir() / "good.toml").card;
    const auto text = card_to_toml(original);
    const auto back = parse_card_text(text, "roundtrip", data_dir()).card;
    EXPECT_EQ(back.model_id, original.model_id);
    EXPECT_EQ(back.name, original.name);
    EXPECT_EQ(back.family, original.family);
    EXPECT_EQ(back.quantization, original.quantization);
    EXPECT_EQ(back.n_layers, original.n_layers);
    EXPECT_EQ(back.hidden_size, original.hidden_size);
    EXPECT_EQ(back.num_key_value_heads, original.num_key_value_heads);
    EXPECT_EQ(back.context_length, original.context_length);
    EXPECT_EQ(back.storage_size, original.storage_size);
    EXPECT_EQ(back.tasks, original.tasks);
    EXPECT_EQ(back.capabilities, original.capabilities);
    EXPECT_EQ(back.source.path, original.source.path);
    EXPECT_EQ(back.placement.compatible_backends, original.placement.compatible_backends);
    EXPECT_EQ(back.placement.backend_preference, original.placement.backend_preference);
    EXPECT_EQ(back.placement.max_context_tokens, original.placement.max_context_tokens);
    EXPECT_EQ(back.runtime.chat_template, original.runtime.chat_template);
}

TEST(CardParser, TagAndIdSyntax) {
    EXPECT_TRUE(is_valid_backend_tag("cpu_blas-cpu"));
    EXPECT_TRUE(is_valid_backend_tag("llama_server-vulkan"));
    EXPECT_FALSE(is_valid_backend_tag("cpu"));
    EXPECT_FALSE(is_valid_backend_tag("-cpu"));
    EXPECT_FALSE(is_valid_backend_tag("cpu-"));
    EXPECT_FALSE(is_valid_backend_tag("CPU-cpu"));
    EXPECT_FALSE(is_valid_backend_tag("a-b-c"));
    EXPECT_TRUE(is_valid_model_id("org/model:Q4_K_M-v1.2"));
    EXPECT_FALSE(is_valid_model_id(""));
    EXPECT_FALSE(is_valid_model_id("a b"));
    // Ids name files and URL paths: one "org/name" slash, never "..".
    EXPECT_TRUE(is_valid_model_id("a.b/c.d"));
    for (const char *bad : {"..", "../x", "a/../b", "x..y", "a/b/c", "/a", "a/", "a//b", "a\\b"})
        EXPECT_FALSE(is_valid_model_id(bad)) << bad;
}

TEST(CardParser, HfFilesStayInsideTheRepo) {
    const std::string head = "model_id = \"m\"\n[placement]\ncompatible_backends = [\"cpu_blas-cpu\"]\n[source]\nhf_repo = \"o/r\"\n";
    EXPECT_NO_THROW(parse_card_text(head + "hf_file = \"sub/m.gguf\"\n", "t", "/tmp"));
    for (const char *bad : {"../m.gguf", "/etc/shadow", "a/../../m.gguf"}) {
        try {
            parse_card_text(head + "hf_file = \"" + bad + "\"\n", "t", "/tmp");
            ADD_FAILURE() << bad << " was accepted";
        } catch (const CardError &e) {
            EXPECT_EQ(e.field(), "source.hf_file") << e.what();
        }
    }
}

// Whatever a card file holds, reading it gives a card or a CardError (a
// seeded generator mutates the good card, so a failure reproduces).
TEST(CardParser, MutatedFilesGiveACardOrACardError) {
    const std::string good = read_text(data_dir() / "good.toml");
    const std::string alphabet = "=[]\"'{},.#\n 0123456789-_abcxyzTF\\\xC3\xA9";
    std::mt19937 rng(42);
    int errors = 0;
    for (int iter = 0; iter < 2000; ++iter) {
        std::string text = good;
        const int edits = 1 + int(rng() % 4);
        for (int e = 0; e < edits && !text.empty(); ++e) {
            const size_t pos = rng() % text.size();
            switch (rng() % 3) {
            case 0: text[pos] = alphabet[rng() % alphabet.size()]; break;
            case 1: text.erase(pos, 1 + rng() % 10); break;
            default: text.insert(pos, 1, alphabet[rng() % alphabet.size()]); break;
            }
        }
        try {
            const auto parsed = parse_card_text(text, "mutated", "/cards");
            EXPECT_TRUE(is_valid_model_id(parsed.card.model_id));
            EXPECT_FALSE(parsed.card.placement.compatible_backends.empty());
        } catch (const CardError &e) {
            ++errors;
            EXPECT_EQ(std::string(e.what()).rfind("mutated", 0), 0u) << e.what();
        } catch (const std::exception &e) {
            ADD_FAILURE() << "escaped as " << typeid(e).name() << ": " << e.what() << "\n" << text;
        }
    }
    EXPECT_GT(errors, 0);
}

TEST(CardParser, TextThatIsNotUtf8IsACardErrorWithItsLine) {
    // toml11 3.7 read past its buffer on an invalid UTF-8 string (found by fuzz_card_input; ASan).
    const std::string crash = "mo= 64\n'model_id = #tin\xc4'-ba.d-type\"\nfami \npma~\"\nn_layathf";
    for (const std::string &text : {crash, std::string("model_id = \"a\"\nfamily = \"\xed\xa0\x80\"\n"), // a surrogate
                                    std::string("model_id = \"a\xc0\xaf\"\n"),                          // overlong '/'
                                    std::string("model_id = \"a\xe2\x82\"")}) {                         // truncated
        try {
            parse_card_text(text, "bad.toml", "/cards");
            ADD_FAILURE() << "accepted: " << text;
        } catch (const CardError &e) {
            EXPECT_NE(std::string(e.what()).find("not valid UTF-8"), std::string::npos) << e.what();
        }
    }
    try {
        parse_card_text(crash, "bad.toml", "/cards");
    } catch (const CardError &e) {
        EXPECT_EQ(e.line(), 2u);
    }
    // Valid multi-byte text passes the check (the card then lacks fields).
    try {
        parse_card_text("model_id = \"a\"\n# caf\xc3\xa9 \xf0\x9f\xa6\x8a\n", "ok.toml", "/cards");
    } catch (const CardError &e) {
        EXPECT_EQ(std::string(e.what()).find("UTF-8"), std::string::npos) << e.what();
    }
}
