// Tokenizers against llama.cpp's own reference outputs:
//  - shared/models/vocab/*.gguf.inp/.out (add_special=false, parse_special=false)
//  - shared/conformance/tokenizer/*.json (tokens with and without specials)
//  - prompt_tokens of every shared/conformance/*.json model reference.
#include "gguf/gguf.hpp"
#include "tokenizer/vocab.hpp"
#include "unit/test_paths.hpp"

#include <gtest/gtest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <sstream>

using namespace skulk::model;
using skulk::test::read_file;
using skulk::test::shared_dir;

namespace {

std::vector<std::string> split_inputs(const std::string &s) {
    const std::string sep = "\n__ggml_vocab_test__\n";
    std::vector<std::string> out;
    size_t pos = 0;
    for (;;) {
        size_t m = s.find(sep, pos);
        if (m == std::string::npos) break;
        out.push_back(s.substr(pos, m - pos));
        pos = m + sep.size();
    }
    return out;
}

std::vector<std::vector<int32_t>> parse_outputs(const std::string &s) {
    std::vector<std::vector<int32_t>> out;
    std::istringstream in(s);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream ls(line);
        std::vector<int32_t> ids;
        int32_t id;
        while (ls >> id) ids.push_back(id);
        out.push_back(ids);
    }
    return out;
}

std::string show(const std::vector<int32_t> &v) {
    std::string s;
    for (auto i : v) s += " " + std::to_string(i);
    return s;
}

class VocabVectors : public ::testing::TestWithParam<std::string> {};

} // namespace

TEST_P(VocabVectors, MatchLlamaCpp) {
    const auto dir = shared_dir() / "models" / "vocab";
    const std::string name = GetParam();
    auto file = GgufFile::open(dir / (name + ".gguf"));
    auto vocab = Vocab::from_gguf(*file);
    auto inputs = split_inputs(read_file(dir / (name + ".gguf.inp")));
    auto outputs = parse_outputs(read_file(dir / (name + ".gguf.out")));
    ASSERT_EQ(inputs.size(), 46u);
    ASSERT_GE(outputs.size(), inputs.size());
    int failures = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
        auto got = vocab->tokenize(inputs[i], false, false);
        if (got != outputs[i]) {
            ++failures;
            ADD_FAILURE() << name << " #" << i << " '" << inputs[i] << "'\n want" << show(outputs[i]) << "\n got "
                          << show(got);
        }
    }
    EXPECT_EQ(failures, 0);

    // The conformance dump: prompts.txt with and without special tokens.
    auto j = nlohmann::json::parse(read_file(shared_dir() / "conformance" / "tokenizer" / (name + ".json")));
    EXPECT_EQ(vocab->add_bos(), j.at("add_bos").get<bool>());
    EXPECT_EQ(vocab->add_eos(), j.at("add_eos").get<bool>());
    for (const auto &p : j.at("prompts")) {
        const std::string text = p.at("text");
        EXPECT_EQ(vocab->tokenize(text, true, false), p.at("tokens").get<std::vector<int32_t>>())
            << name << " prompt " << p.at("index");
        EXPECT_EQ(vocab->tokenize(text, false, false), p.at("tokens_no_special").get<std::vector<int32_t>>())
            << name << " prompt " << p.at("index");
    }
}

INSTANTIATE_TEST_SUITE_P(All, VocabVectors,
                         ::testing::Values("ggml-vocab-llama-spm", "ggml-vocab-phi-3", "ggml-vocab-gpt-2",
                                           "ggml-vocab-mpt", "ggml-vocab-falcon", "ggml-vocab-starcoder",
                                           "ggml-vocab-refact", "ggml-vocab-deepseek-llm",
                                           "ggml-vocab-deepseek-coder", "ggml-vocab-bert-bge"),
                         [](const auto &info) {
                             std::string s = info.param.substr(11);
                             for (char &c : s)
                                 if (c == '-') c = '_';
                             return s;
                         });

// The file a reference's vocabulary is read from: the model itself, else a
// shipped sibling of its family ("<family>-<type>[.deqF32].gguf" shares the
// vocabulary of "<family>-*.gguf": float synthetic models are not shipped,
// SOURCES.md, SET2.md). A file with a tensor type the reader does not know
// yet (set 2's IQ4/MXFP4) gives way to the next; the order is by name.
std::shared_ptr<GgufFile> open_vocab_source(const std::string &file) {
    std::vector<std::string> candidates;
    if (std::filesystem::exists(shared_dir() / "models" / file)) candidates.push_back(file);
    const size_t dash = file.rfind('-');
    const std::string family = dash == std::string::npos ? file : file.substr(0, dash + 1);
    std::vector<std::string> siblings;
    for (const auto &e : std::filesystem::directory_iterator(shared_dir() / "models")) {
        const std::string name = e.path().filename().string();
        if (name != file && name.rfind(family, 0) == 0 && e.path().extension() == ".gguf" &&
            name.find('-', family.size()) == std::string::npos)
            siblings.push_back(name);
    }
    std::sort(siblings.begin(), siblings.end());
    candidates.insert(candidates.end(), siblings.begin(), siblings.end());
    for (const auto &c : candidates) {
        try {
            return GgufFile::open(shared_dir() / "models" / c);
        } catch (const GgufError &e) {
            if (std::string(e.what()).find("unknown tensor type") == std::string::npos) throw;
        }
    }
    return nullptr;
}

// Every model reference: its prompt_tokens come from the model's own vocab.
TEST(VocabConformance, PromptTokensOfEveryModelReference) {
    const auto conf = shared_dir() / "conformance";
    int checked = 0;
    for (const auto &entry : std::filesystem::directory_iterator(conf)) {
        if (entry.path().extension() != ".json") continue;
        auto j = nlohmann::json::parse(read_file(entry.path()));
        if (j.value("schema", "") != "refdump-v1") continue;
        std::string model_file = j.at("model").at("file");
        auto path = shared_dir() / "models" / std::filesystem::path(model_file).filename();
        const auto file = open_vocab_source(path.filename().string());
        ASSERT_TRUE(file) << model_file << ": neither it nor a sibling of its family can be read";
        auto vocab = Vocab::from_gguf(*file);
        for (const auto &p : j.at("prompts")) {
            if (p.contains("error")) continue;
            const std::string text = p.at("text");
            EXPECT_EQ(vocab->tokenize(text, p.at("add_bos").get<bool>(), false),
                      p.at("prompt_tokens").get<std::vector<int32_t>>())
                << entry.path().filename() << " prompt " << p.at("index");
            EXPECT_EQ(vocab->detokenize(p.at("prompt_tokens").get<std::vector<int32_t>>(), true),
                      p.at("detokenized").get<std::string>())
                << entry.path().filename() << " prompt " << p.at("index");
            // Greedy pieces: our piece bytes equal llama.cpp's pieces_hex.
            const auto &gen = p.at("generated");
            const auto &ids = gen.at("ids");
            const auto &hex = gen.at("pieces_hex");
            for (size_t k = 0; k < ids.size(); ++k) {
                std::string piece = vocab->token_to_piece(ids[k].get<int32_t>(), true);
                std::string h;
                for (unsigned char c : piece) h += fmt::format("{:02x}", c);
                EXPECT_EQ(h, hex[k].get<std::string>()) << entry.path().filename() << " token " << ids[k];
            }
        }
        ++checked;
    }
    EXPECT_GE(checked, 30);
}
