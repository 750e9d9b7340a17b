#include "config/options.hpp"

#include <gtest/gtest.h>

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
