// The access settings: --api-bind, --cluster-bind, --api-keys, --cors-origins,
// their SKULK_* variables and skulk.yaml keys (flags > variables > file).
#include "config/options.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

namespace fs = std::filesystem;
using skulk::config::ParseOutcome;

namespace {

skulk::config::ParseResult parse(std::vector<std::string> args) {
    args.insert(args.begin(), "skulk-host");
    args.insert(args.end(), {"--data-dir", (fs::temp_directory_path() / "skulk-access-opts-none").string()});
    std::vector<char *> argv;
    for (auto &a : args) argv.push_back(a.data());
    return skulk::config::parse_daemon_args(int(argv.size()), argv.data());
}

fs::path yaml(const std::string &text) {
    std::random_device rd;
    const auto dir = fs::temp_directory_path() / ("skulk-access-yaml-" + std::to_string(rd()));
    fs::create_directories(dir);
    std::ofstream(dir / "skulk.yaml") << text;
    return dir / "skulk.yaml";
}

} // namespace

TEST(AccessOptions, DefaultsKeepEveryInterfaceNoKeysNoCors) {
    auto r = parse({});
    ASSERT_EQ(r.outcome, ParseOutcome::run) << r.message;
    EXPECT_EQ(r.options.api_bind, "0.0.0.0");
    EXPECT_EQ(r.options.cluster_bind, "*");
    EXPECT_EQ(r.options.api_keys_file, "");
    EXPECT_TRUE(r.options.cors_origins.empty());
}

TEST(AccessOptions, FlagsWinOverVariables) {
    ::setenv("SKULK_CLUSTER_BIND", "10.0.0.9", 1);
    ::setenv("SKULK_API_KEYS", "/etc/skulk/keys", 1);
    ::setenv("SKULK_CORS_ORIGINS", "https://a.org, https://b.org", 1);
    auto r = parse({"--api-bind", "127.0.0.2"});
    auto f = parse({"--cluster-bind", "127.0.0.3", "--cors-origins", "https://c.org"});
    ::unsetenv("SKULK_CLUSTER_BIND");
    ::unsetenv("SKULK_API_KEYS");
    ::unsetenv("SKULK_CORS_ORIGINS");
    ASSERT_EQ(r.outcome, ParseOutcome::run) << r.message;
    EXPECT_EQ(r.options.api_bind, "127.0.0.2");
    EXPECT_EQ(r.options.cluster_bind, "10.0.0.9");
    EXPECT_EQ(r.options.api_keys_file, "/etc/skulk/keys");
    EXPECT_EQ(r.options.cors_origins, (std::vector<std::string>{"https://a.org", "https://b.org"}));
    EXPECT_EQ(f.options.cluster_bind, "127.0.0.3");
    EXPECT_EQ(f.options.cors_origins, (std::vector<std::string>{"https://c.org"}));
    EXPECT_EQ(parse({"--api-bind", "*"}).options.api_bind, "0.0.0.0"); // what civetweb understands
}

TEST(AccessOptions, BadBindAddressesNameTheFlagOrKey) {
    auto r = parse({"--cluster-bind", "my-host"});
    EXPECT_EQ(r.outcome, ParseOutcome::exit_error);
    EXPECT_NE(r.message.find("--cluster-bind"), std::string::npos) << r.message;
    EXPECT_NE(r.message.find("my-host"), std::string::npos) << r.message;
    r = parse({"--api-bind", "300.1.1.1"});
    EXPECT_EQ(r.outcome, ParseOutcome::exit_error);
    EXPECT_NE(r.message.find("--api-bind"), std::string::npos) << r.message;
    const auto file = yaml("cluster:\n  bind: eth0\n");
    r = parse({"--config", file.string()});
    EXPECT_EQ(r.outcome, ParseOutcome::exit_error);
    EXPECT_NE(r.message.find("cluster.bind"), std::string::npos) << r.message;
    fs::remove_all(file.parent_path());
}

TEST(AccessOptions, SkulkYamlKeysAndRelativeKeyFile) {
    const auto file = yaml("cluster:\n  bind: 127.0.0.5\napi:\n  bind: 127.0.0.6\n  keys: api_keys\n"
                           "  cors_origins: [https://a.org, http://localhost:3000]\n");
    auto r = parse({"--config", file.string()});
    ASSERT_EQ(r.outcome, ParseOutcome::run) << r.message;
    EXPECT_EQ(r.options.cluster_bind, "127.0.0.5");
    EXPECT_EQ(r.options.api_bind, "127.0.0.6");
    EXPECT_EQ(fs::path(r.options.api_keys_file), file.parent_path() / "api_keys");
    EXPECT_EQ(r.options.cors_origins, (std::vector<std::string>{"https://a.org", "http://localhost:3000"}));
    // A flag wins over the file.
    r = parse({"--config", file.string(), "--cluster-bind", "127.0.0.7"});
    EXPECT_EQ(r.options.cluster_bind, "127.0.0.7");
    fs::remove_all(file.parent_path());
}

TEST(AccessOptions, SkulkYamlWithAKeyThatIsNotANameIsAnError) {
    // yaml-cpp threw out of apply_yaml_config here and ended the daemon (found by fuzz_yaml_input).
    for (const char *text : {"? [x]\n: 1\n", "cluster:\n  ? {a: 1}\n  : 1\n", "nodes:\n  ? [h]\n  : {api: {port: 1}}\n"}) {
        const auto file = yaml(text);
        auto r = parse({"--config", file.string()});
        EXPECT_EQ(r.outcome, ParseOutcome::exit_error) << text;
        EXPECT_NE(r.message.find(file.string() + ": line "), std::string::npos) << r.message;
        EXPECT_NE(r.message.find("keys must be plain names"), std::string::npos) << r.message;
        fs::remove_all(file.parent_path());
    }
}
