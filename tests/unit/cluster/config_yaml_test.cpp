// skulk.yaml: precedence (flags > environment > file) and clear errors.
#include "config/options.hpp"
#include "config/yaml_config.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

namespace fs = std::filesystem;
using skulk::config::ParseOutcome;

namespace {

struct TempDir {
    fs::path path;
    TempDir() {
        std::random_device rd;
        path = fs::temp_directory_path() / ("skulk-yaml-test-" + std::to_string(rd()) + std::to_string(rd()));
        fs::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    fs::path write(const std::string &name, const std::string &text) const {
        std::ofstream(path / name) << text;
        return path / name;
    }
};

skulk::config::ParseResult parse(std::vector<std::string> args) {
    args.insert(args.begin(), "skulk-host");
    std::vector<char *> argv;
    for (auto &a : args) argv.push_back(a.data());
    return skulk::config::parse_daemon_args(int(argv.size()), argv.data());
}

const char *kYaml = R"(cluster:
  namespace: from-file
  port: 40000
  bootstrap_peers: [tcp://10.0.0.2:52416, tcp://10.0.0.3:52416]
  secret: file-secret
  force_master: true
api:
  port: 41000
)";

} // namespace

TEST(SkulkYaml, DataDirFileIsReadWhenPresent) {
    ::unsetenv("SKULK_NAMESPACE");
    ::unsetenv("SKULK_CLUSTER_SECRET");
    TempDir dir;
    dir.write("skulk.yaml", kYaml);
    auto r = parse({"--data-dir", dir.path.string()});
    ASSERT_EQ(r.outcome, ParseOutcome::run) << r.message;
    EXPECT_EQ(r.options.cluster_namespace, "from-file");
    EXPECT_EQ(r.options.cluster_port, 40000);
    EXPECT_EQ(r.options.api_port, 41000);
    EXPECT_EQ(r.options.bootstrap_peers, (std::vector<std::string>{"tcp://10.0.0.2:52416", "tcp://10.0.0.3:52416"}));
    EXPECT_EQ(r.options.cluster_secret, "file-secret");
    EXPECT_TRUE(r.options.force_master);
}

TEST(SkulkYaml, FlagsWinOverEnvironmentWhichWinsOverTheFile) {
    TempDir dir;
    const auto file = dir.write("c.yaml", kYaml);
    ::setenv("SKULK_NAMESPACE", "from-env", 1);
    auto r = parse({"--config", file.string(), "--cluster-port", "40500"});
    ::unsetenv("SKULK_NAMESPACE");
    ASSERT_EQ(r.outcome, ParseOutcome::run) << r.message;
    EXPECT_EQ(r.options.cluster_namespace, "from-env");
    EXPECT_EQ(r.options.cluster_port, 40500);
    EXPECT_EQ(r.options.api_port, 41000); // not given elsewhere: the file's
    auto f = parse({"--config", file.string(), "--namespace", "from-flag"});
    EXPECT_EQ(f.options.cluster_namespace, "from-flag");
}

TEST(SkulkYaml, BadKeyOrValueNamesFileKeyAndReason) {
    TempDir dir;
    const auto unknown = dir.write("u.yaml", "cluster:\n  portt: 1\n");
    auto r = parse({"--config", unknown.string()});
    EXPECT_EQ(r.outcome, ParseOutcome::exit_error);
    EXPECT_NE(r.message.find(unknown.string()), std::string::npos) << r.message;
    EXPECT_NE(r.message.find("cluster.portt"), std::string::npos) << r.message;

    const auto bad = dir.write("b.yaml", "cluster:\n  port: lots\n");
    r = parse({"--config", bad.string()});
    EXPECT_EQ(r.outcome, ParseOutcome::exit_error);
    EXPECT_NE(r.message.find("cluster.port"), std::string::npos) << r.message;
    EXPECT_NE(r.message.find("lots"), std::string::npos) << r.message;

    // A bad value is reported even when a flag overrides the key.
    r = parse({"--config", bad.string(), "--cluster-port", "1"});
    EXPECT_EQ(r.outcome, ParseOutcome::exit_error);

    const auto peers = dir.write("p.yaml", "cluster:\n  bootstrap_peers: 10.0.0.2\n");
    r = parse({"--config", peers.string()});
    EXPECT_NE(r.message.find("tcp://host:port"), std::string::npos) << r.message;

    const auto broken = dir.write("x.yaml", "cluster: [unclosed\n");
    r = parse({"--config", broken.string()});
    EXPECT_EQ(r.outcome, ParseOutcome::exit_error);
    EXPECT_NE(r.message.find("x.yaml"), std::string::npos) << r.message;

    r = parse({"--config", (dir.path / "missing.yaml").string()});
    EXPECT_EQ(r.outcome, ParseOutcome::exit_error);
    EXPECT_NE(r.message.find("missing.yaml"), std::string::npos) << r.message;
}

TEST(SkulkYaml, PerNodeOverridesApplyToThisHostOnly) {
    TempDir dir;
    const auto file = dir.write("n.yaml", R"(cluster:
  namespace: lab
  port: 40000
nodes:
  gpu-box:
    cluster: {port: 41000}
    api: {port: 8080}
  laptop:
    api: {enabled: false}
)");
    skulk::config::Options gpu, laptop, other, flagged;
    EXPECT_EQ(skulk::config::apply_yaml_config(file, gpu, {}, "gpu-box"), "");
    EXPECT_EQ(gpu.cluster_namespace, "lab");
    EXPECT_EQ(gpu.cluster_port, 41000);
    EXPECT_EQ(gpu.api_port, 8080);
    EXPECT_FALSE(gpu.no_api);
    EXPECT_EQ(skulk::config::apply_yaml_config(file, laptop, {}, "laptop"), "");
    EXPECT_EQ(laptop.cluster_port, 40000);
    EXPECT_TRUE(laptop.no_api);
    EXPECT_EQ(skulk::config::apply_yaml_config(file, other, {}, "elsewhere"), "");
    EXPECT_EQ(other.cluster_port, 40000);
    EXPECT_EQ(other.api_port, 52415);
    flagged.cluster_port = 1234;
    EXPECT_EQ(skulk::config::apply_yaml_config(file, flagged, {"cluster.port"}, "gpu-box"), "");
    EXPECT_EQ(flagged.cluster_port, 1234) << "a flag wins over a per-node override";

    // A bad override of another host is still an error, naming the host.
    const auto bad = dir.write("nb.yaml", "nodes:\n  laptop:\n    api: {port: huge}\n");
    skulk::config::Options o;
    const auto err = skulk::config::apply_yaml_config(bad, o, {}, "gpu-box");
    EXPECT_NE(err.find("nodes.laptop.api.port"), std::string::npos) << err;
}

TEST(SkulkYaml, RequireSecretRefusesToStartWithoutOneFromFlagFileOrEnvironment) {
    TempDir t;
    const std::string dir = t.path.string();
    ::unsetenv("SKULK_CLUSTER_SECRET");
    auto r = parse({"--data-dir", dir, "--require-secret"});
    EXPECT_EQ(r.outcome, ParseOutcome::exit_error);
    EXPECT_NE(r.message.find("no cluster secret is set and --require-secret"), std::string::npos) << r.message;

    t.write("skulk.yaml", "cluster:\n  require_secret: true\n");
    r = parse({"--data-dir", dir});
    EXPECT_EQ(r.outcome, ParseOutcome::exit_error) << "cluster.require_secret in the file";

    t.write("skulk.yaml", "cluster:\n  require_secret: true\n  secret: s3cret\n");
    r = parse({"--data-dir", dir});
    EXPECT_EQ(r.outcome, ParseOutcome::run) << r.message;
    EXPECT_TRUE(r.options.require_cluster_secret);

    fs::remove(t.path / "skulk.yaml");
    ::setenv("SKULK_REQUIRE_CLUSTER_SECRET", "1", 1);
    r = parse({"--data-dir", dir});
    EXPECT_EQ(r.outcome, ParseOutcome::exit_error) << "SKULK_REQUIRE_CLUSTER_SECRET=1";
    ::setenv("SKULK_REQUIRE_CLUSTER_SECRET", "perhaps", 1);
    r = parse({"--data-dir", dir});
    EXPECT_NE(r.message.find("SKULK_REQUIRE_CLUSTER_SECRET must be 0 or 1, got \"perhaps\""), std::string::npos) << r.message;
    ::unsetenv("SKULK_REQUIRE_CLUSTER_SECRET");
}
