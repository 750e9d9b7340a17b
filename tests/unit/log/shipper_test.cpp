// The in-process shipper: lines reach the child's stdin; a stalled child
// never blocks a writer (lines are dropped and counted); a child that exits
// is restarted. The child is a stand-in shell script, not Vector.
#include "log/vector_shipper.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using skulk::log::ShipperOptions;
using skulk::log::VectorShipper;

namespace {

struct TempDir {
    fs::path path;
    TempDir() {
        char tmpl[] = "/tmp/skulk-shipper-test-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() { fs::remove_all(path); }
};

std::string read_file(const fs::path &p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Polls pred until it holds or the deadline passes.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (pred()) return true;
        std::this_thread::sleep_for(10ms);
    }
    return pred();
}

ShipperOptions sh(const std::string &script) {
    ShipperOptions o;
    o.executable = "/bin/sh";
    o.args = {"-c", script};
    o.pipe_bytes = 4096;
    o.backoff_min = 50ms;
    o.backoff_max = 200ms;
    return o;
}

} // namespace

TEST(VectorShipper, LinesReachTheChildsStdin) {
    TempDir t;
    const auto out = t.path / "shipped";
    VectorShipper s(sh("exec cat > '" + out.string() + "'"));
    s.start();
    ASSERT_TRUE(eventually([&] { return s.starts() == 1; }));
    for (int i = 0; i < 3; ++i) {
        const std::string line = "{\"n\":" + std::to_string(i) + "}\n";
        ASSERT_TRUE(eventually([&] { return s.write_line(line); })) << "the child's pipe takes a line";
    }
    EXPECT_TRUE(eventually([&] { return read_file(out) == "{\"n\":0}\n{\"n\":1}\n{\"n\":2}\n"; })) << read_file(out);
    s.stop();
}

TEST(VectorShipper, AStalledChildNeverBlocksTheWriterAndDroppedLinesAreCounted) {
    VectorShipper s(sh("exec sleep 600")); // never reads its stdin
    s.start();
    ASSERT_TRUE(eventually([&] { return s.starts() == 1; }));
    const std::string line(200, 'x');
    const auto started = std::chrono::steady_clock::now();
    int accepted = 0;
    for (int i = 0; i < 20000; ++i) accepted += s.write_line(line + "\n");
    const auto took = std::chrono::steady_clock::now() - started;
    EXPECT_LT(accepted, 20000);
    EXPECT_GE(s.dropped(), uint64_t(20000 - accepted));
    // 20000 writes against a full pipe return at once; a blocking write would hang here forever.
    EXPECT_LT(took, 10s);
    s.stop(); // SIGTERM after the EOF grace: does not hang on the stalled child
}

TEST(VectorShipper, AChildThatExitsIsRestartedWithBackoff) {
    TempDir t;
    const auto starts = t.path / "starts";
    VectorShipper s(sh("echo start >> '" + starts.string() + "'; exit 3"));
    s.start();
    EXPECT_TRUE(eventually([&] { return s.starts() >= 3; })) << s.starts();
    s.stop();
    const auto text = read_file(starts);
    EXPECT_GE(std::count(text.begin(), text.end(), '\n'), 3);
}

TEST(VectorShipper, LinesLongerThanThePipeBufferAreNeverInterleaved) {
    TempDir t;
    const auto out = t.path / "shipped";
    ShipperOptions o = sh("exec cat > '" + out.string() + "'");
    VectorShipper s(o);
    s.start();
    ASSERT_TRUE(eventually([&] { return s.starts() == 1; }));
    const std::string big = std::string(10000, 'a') + "\n", small = "b\n";
    for (int i = 0; i < 50; ++i) {
        s.write_line(big); // either may be dropped when the pipe is full: never torn
        s.write_line(small);
    }
    ASSERT_TRUE(eventually([&] { return s.write_line("end\n"); }));
    EXPECT_TRUE(eventually([&] { const auto x = read_file(out); return x.size() >= 4 && x.substr(x.size() - 4) == "end\n"; }));
    s.stop();
    std::istringstream lines(read_file(out));
    for (std::string l; std::getline(lines, l);)
        EXPECT_TRUE(l == "b" || l == "end" || l == std::string(10000, 'a')) << "a torn line of " << l.size() << " bytes";
}

TEST(FindOnPath, FindsAnExecutableAndNothingForAMissingName) {
    EXPECT_FALSE(skulk::log::find_on_path("sh").empty());
    EXPECT_TRUE(skulk::log::find_on_path("no-such-program-skulk").empty());
}
