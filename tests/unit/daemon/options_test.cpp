#include "config/options.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace {

skulk::config::ParseResult parse(std::vector<std::string> args) {
    args.insert(args.begin(), "skulk-host");
    std::vector<char *> argv;
    for (auto &a : args) argv.push_back(a.data());
    return skulk::config::parse_daemon_args(int(argv.size()), argv.data());
}

} // namespace

TEST(DaemonOptions, DefaultsMatchTheDesign) {
    auto r = parse({});
    ASSERT_EQ(r.outcome, skulk::config::ParseOutcome::run) << r.message;
    EXPECT_EQ(r.options.api_port, 52415);
    EXPECT_EQ(r.options.cluster_port, 52416);
    EXPECT_EQ(r.options.verbosity, 0);
}

TEST(DaemonOptions, VerbosityCountsRepeatedFlags) {
    EXPECT_EQ(parse({"-vv"}).options.verbosity, 2);
    EXPECT_EQ(parse({"-v", "--verbose"}).options.verbosity, 2);
    EXPECT_EQ(parse({"-q"}).options.verbosity, -1);
}

TEST(DaemonOptions, BadInputNamesTheFlag) {
    auto r = parse({"--api-port", "70000"});
    EXPECT_EQ(r.outcome, skulk::config::ParseOutcome::exit_error);
    EXPECT_NE(r.message.find("--api-port"), std::string::npos) << r.message;
    auto u = parse({"--no-such-flag"});
    EXPECT_EQ(u.outcome, skulk::config::ParseOutcome::exit_error);
    EXPECT_NE(u.message.find("no-such-flag"), std::string::npos) << u.message;
}

TEST(DaemonOptions, PeersSplitOnCommas) {
    auto r = parse({"--bootstrap-peers", "tcp://a:1,tcp://b:2", "--bootstrap-peers", "tcp://c:3"});
    ASSERT_EQ(r.options.bootstrap_peers.size(), 3u);
    EXPECT_EQ(r.options.bootstrap_peers[2], "tcp://c:3");
}

TEST(DaemonOptions, AStrayWordIsAUsageErrorNamingIt) {
    auto r = parse({"--api-port", "0", "extra-word"});
    EXPECT_EQ(r.outcome, skulk::config::ParseOutcome::exit_error);
    EXPECT_NE(r.message.find("unexpected argument 'extra-word'"), std::string::npos) << r.message;
    EXPECT_EQ(parse({"--api-port", "0"}).outcome, skulk::config::ParseOutcome::run) << "a flag's value is no stray word";
}

TEST(DaemonOptions, ModelDirsRepeatAndHttpLimitsHaveDefaults) {
    auto r = parse({"--model-dir", "/srv/a", "--model-dir", "/srv/b"});
    ASSERT_EQ(r.outcome, skulk::config::ParseOutcome::run) << r.message;
    ASSERT_EQ(r.options.model_dirs.size(), 2u);
    EXPECT_EQ(r.options.model_dirs[1], "/srv/b");
    EXPECT_EQ(r.options.api_threads, 2048);
    EXPECT_EQ(r.options.api_head_timeout_ms, 5000);
}

TEST(DaemonOptions, HttpLimitsFromTheEnvironmentAreChecked) {
    ::setenv("SKULK_API_HEAD_TIMEOUT_MS", "1500", 1);
    ::setenv("SKULK_MODEL_DIRS", "/m1:/m2", 1);
    auto r = parse({});
    EXPECT_EQ(r.options.api_head_timeout_ms, 1500);
    EXPECT_EQ(r.options.model_dirs.size(), 2u);
    ::setenv("SKULK_API_THREADS", "lots", 1);
    auto bad = parse({});
    EXPECT_EQ(bad.outcome, skulk::config::ParseOutcome::exit_error);
    EXPECT_NE(bad.message.find("SKULK_API_THREADS"), std::string::npos) << bad.message;
    ::unsetenv("SKULK_API_HEAD_TIMEOUT_MS");
    ::unsetenv("SKULK_MODEL_DIRS");
    ::unsetenv("SKULK_API_THREADS");
}

TEST(DaemonOptions, HttpLimitsAndModelDirsFromSkulkYaml) {
    const std::string file = ::testing::TempDir() + "skulk-http-limits.yaml";
    {
        std::ofstream out(file);
        out << "api:\n  threads: 300\n  head_timeout_ms: 2500\nmodels:\n  dirs: [/srv/models, /mnt/gguf]\n";
    }
    auto r = parse({"--config", file});
    ASSERT_EQ(r.outcome, skulk::config::ParseOutcome::run) << r.message;
    EXPECT_EQ(r.options.api_threads, 300);
    EXPECT_EQ(r.options.api_head_timeout_ms, 2500);
    ASSERT_EQ(r.options.model_dirs.size(), 2u);
    EXPECT_EQ(r.options.model_dirs[1], "/mnt/gguf");
    EXPECT_EQ(parse({"--config", file, "--model-dir", "/x"}).options.model_dirs.size(), 1u) << "the flag wins";
    {
        std::ofstream out(file);
        out << "api:\n  threads: 0\n";
    }
    auto bad = parse({"--config", file});
    EXPECT_EQ(bad.outcome, skulk::config::ParseOutcome::exit_error);
    EXPECT_NE(bad.message.find("api.threads"), std::string::npos) << bad.message;
    std::remove(file.c_str());
}
