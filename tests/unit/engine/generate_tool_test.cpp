// skulk-generate end to end (a real process): tokenizer + registry + engine
// reproduce llama.cpp's prompt ids, greedy continuation and logits for
// stories260K, and bad arguments get a clear message and a non-zero exit.
#include "unit/engine/reference.hpp"

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <sys/wait.h>

namespace skulk::test {
namespace {

struct Output {
    int status;
    std::string out;
};

std::string quote(const std::string &s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

Output run_tool(const std::string &args) {
    const std::string cmd = quote((build_dir() / "bin" / "skulk-generate").string()) + " --plugin-dir " +
                            quote((build_dir() / "bin" / "plugins").string()) + " " + args + " 2>&1";
    FILE *f = popen(cmd.c_str(), "r");
    Output o{-1, {}};
    if (!f) return o;
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof buf, f)) > 0;) o.out.append(buf, n);
    const int st = pclose(f);
    o.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return o;
}

TEST(GenerateTool, GreedyJsonMatchesTheReference) {
    const Reference ref = load_reference("stories260K");
    const std::string text = [] {
        // prompts-tiny.txt prompt 1: the exact bytes the reference tokenized
        const auto j = nlohmann::json::parse(std::ifstream(shared_dir() / "conformance" / "stories260K.json"));
        return j.at("prompts").at(1).at("text").get<std::string>();
    }();
    const RefPrompt &p = ref.prompts[1];
    const int last = static_cast<int>(p.prompt_tokens.size()) - 1;
    const Output o = run_tool("--model " + quote((shared_dir() / "models" / "stories260K.gguf").string()) + " --prompt " +
                              quote(text) + " -n 32 --greedy --ignore-eos --kv f32 --threads 2 --json --logits-at " +
                              std::to_string(last));
    ASSERT_EQ(o.status, 0) << o.out;
    const auto j = nlohmann::json::parse(o.out);
    EXPECT_EQ(j.at("prompt_ids").get<std::vector<int32_t>>(), p.prompt_tokens);
    EXPECT_EQ(j.at("generated_ids").get<std::vector<int32_t>>(), p.generated);
    ASSERT_EQ(j.at("logits").size(), 1u);
    const auto &top = j.at("logits").at(0).at("top");
    ASSERT_EQ(top.size(), 20u);
    for (size_t i = 0; i < top.size(); ++i) {
        EXPECT_EQ(top[i].at(0).get<int32_t>(), p.positions[0].top[i].first) << "rank " << i;
        EXPECT_NEAR(top[i].at(1).get<double>(), p.positions[0].top[i].second, 1e-3) << "rank " << i;
    }
    EXPECT_GT(j.at("decode_tokens_per_s").get<double>(), 0.0);
    EXPECT_GT(j.at("memory").at("weights_bytes").get<uint64_t>(), 0u);
}

TEST(GenerateTool, BadArgumentsAreExplained) {
    const std::string model = quote((shared_dir() / "models" / "stories260K.gguf").string());
    Output o = run_tool("--model " + model + " --prompt-ids 1,abc");
    EXPECT_EQ(o.status, 2);
    EXPECT_NE(o.out.find("--prompt-ids: 'abc'"), std::string::npos) << o.out;
    o = run_tool("--model " + model + " --prompt-ids 1,99999 -n 1");
    EXPECT_NE(o.status, 0);
    EXPECT_NE(o.out.find("99999"), std::string::npos) << o.out;
    o = run_tool("--model /nonexistent.gguf --prompt hi");
    EXPECT_EQ(o.status, 1);
    EXPECT_NE(o.out.find("/nonexistent.gguf"), std::string::npos) << o.out;
    o = run_tool("--model " + model + " --prompt hi --kv f8");
    EXPECT_EQ(o.status, 2);
    EXPECT_NE(o.out.find("--kv"), std::string::npos) << o.out;
}

} // namespace
} // namespace skulk::test
