// skulk.log: fresh per launch, archives of earlier runs, rotation at a size
// limit, a bounded number of archives, one writer per directory.
#include "log/durable_file_sink.hpp"
#include "log/log_archive.hpp"

#include <gtest/gtest.h>
#include <spdlog/logger.h>
#include <zstd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;
using skulk::log::DurableFileSink;
using skulk::log::DurableLogOptions;

namespace {

struct TempDir {
    fs::path path;
    TempDir() {
        char tmpl[] = "/tmp/skulk-log-test-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() { fs::remove_all(path); }
};

std::string read_file(const fs::path &p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string unzstd(const fs::path &p) {
    const std::string z = read_file(p);
    const auto size = ZSTD_getFrameContentSize(z.data(), z.size());
    EXPECT_NE(size, ZSTD_CONTENTSIZE_ERROR) << p;
    std::string raw(size == ZSTD_CONTENTSIZE_UNKNOWN ? 0 : size, '\0');
    if (size == ZSTD_CONTENTSIZE_UNKNOWN) { // streamed: decompress in steps
        ZSTD_DStream *ds = ZSTD_createDStream();
        std::vector<char> out(1 << 16);
        ZSTD_inBuffer in{z.data(), z.size(), 0};
        while (in.pos < in.size) {
            ZSTD_outBuffer o{out.data(), out.size(), 0};
            const size_t r = ZSTD_decompressStream(ds, &o, &in);
            EXPECT_FALSE(ZSTD_isError(r)) << ZSTD_getErrorName(r);
            if (ZSTD_isError(r)) break;
            raw.append(out.data(), o.pos);
        }
        ZSTD_freeDStream(ds);
        return raw;
    }
    const size_t n = ZSTD_decompress(raw.data(), raw.size(), z.data(), z.size());
    EXPECT_FALSE(ZSTD_isError(n));
    return raw;
}

// One "launch": a sink on dir, `lines` lines tagged with `run`, then closed.
void run_once(const DurableLogOptions &o, const std::string &run, int lines) {
    auto sink = std::make_shared<DurableFileSink>(o);
    spdlog::logger logger("test", sink);
    for (int i = 0; i < lines; ++i) logger.info("{} line {}", run, i);
    logger.flush();
}

} // namespace

TEST(DurableLog, EachLaunchStartsFreshAndKeepsEarlierRunsAsZstdArchives) {
    TempDir t;
    DurableLogOptions o{t.path, "skulk.log", 100ull << 20, 5};
    run_once(o, "first", 3);
    run_once(o, "second", 3);
    run_once(o, "third", 3);
    EXPECT_TRUE(fs::exists(t.path / "skulk.log"));
    ASSERT_TRUE(fs::exists(t.path / "skulk.log.1.zst"));
    ASSERT_TRUE(fs::exists(t.path / "skulk.log.2.zst"));
    EXPECT_FALSE(fs::exists(t.path / "skulk.log.3.zst"));
    const auto current = read_file(t.path / "skulk.log");
    EXPECT_NE(current.find("third line 2"), std::string::npos);
    EXPECT_EQ(current.find("second"), std::string::npos) << "the live file holds this run only";
    const auto one = unzstd(t.path / "skulk.log.1.zst"), two = unzstd(t.path / "skulk.log.2.zst");
    EXPECT_NE(one.find("first line 0"), std::string::npos);
    EXPECT_EQ(one.find("second"), std::string::npos);
    EXPECT_NE(two.find("second line 2"), std::string::npos);
}

TEST(DurableLog, RotatesAtTheLimitAndKeepsABoundedNumberOfArchives) {
    TempDir t;
    DurableLogOptions o{t.path, "skulk.log", 4096, 3};
    {
        auto sink = std::make_shared<DurableFileSink>(o);
        spdlog::logger logger("test", sink);
        for (int i = 0; i < 2000; ++i) logger.info("rotation line {:05d} {}", i, std::string(40, 'x'));
        logger.flush();
    } // joins the last compression
    const auto archives = skulk::log::list_archives(t.path, "skulk.log");
    ASSERT_EQ(archives.size(), 3u) << "keep_archives bounds the directory";
    for (const auto &a : archives) EXPECT_TRUE(a.compressed) << a.path;
    EXPECT_LE(fs::file_size(t.path / "skulk.log"), 4096u);
    // The newest archives and the live file hold the last lines, in order, each under the limit.
    std::string tail;
    for (const auto &a : archives) {
        const auto raw = unzstd(a.path);
        EXPECT_LE(raw.size(), 4096u) << a.path;
        tail += raw;
    }
    tail += read_file(t.path / "skulk.log");
    EXPECT_NE(tail.find("rotation line 01999"), std::string::npos);
    size_t prev = 0;
    for (int i = 1999 - 10; i <= 1999; ++i) {
        char key[32];
        std::snprintf(key, sizeof key, "line %05d", i);
        const auto at = tail.find(key);
        ASSERT_NE(at, std::string::npos) << key;
        EXPECT_GE(at, prev);
        prev = at;
    }
}

TEST(DurableLog, ARawArchiveLeftByACrashIsCompressedAtTheNextStart) {
    TempDir t;
    { std::ofstream(t.path / "skulk.log.4") << "half-rotated run\n"; }
    DurableLogOptions o{t.path, "skulk.log", 1 << 20, 5};
    run_once(o, "next", 1);
    EXPECT_FALSE(fs::exists(t.path / "skulk.log.4"));
    ASSERT_TRUE(fs::exists(t.path / "skulk.log.4.zst"));
    EXPECT_EQ(unzstd(t.path / "skulk.log.4.zst"), "half-rotated run\n");
}

TEST(DurableLog, ASecondWriterOfTheSameDirectoryIsRefusedWithTheReason) {
    TempDir t;
    DurableLogOptions o{t.path, "skulk.log", 1 << 20, 5};
    DurableFileSink first(o);
    try {
        DurableFileSink second(o);
        FAIL() << "a second sink on the same dir must be refused";
    } catch (const std::runtime_error &e) {
        EXPECT_NE(std::string(e.what()).find("SKULK_LOG_DIR"), std::string::npos) << e.what();
    }
}
