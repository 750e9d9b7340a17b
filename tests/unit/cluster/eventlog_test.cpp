// The durable event log on real files: torn tails, rotation, counting-only mode.
#include "eventlog/event_log.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace fs = std::filesystem;
using skulk::eventlog::EventLog;
using skulk::eventlog::Options;

namespace {

struct TempDir {
    fs::path path;
    TempDir() {
        std::random_device rd;
        path = fs::temp_directory_path() / ("skulk-eventlog-test-" + std::to_string(rd()) + std::to_string(rd()));
        fs::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

struct CapturedLog {
    std::ostringstream out;
    std::shared_ptr<spdlog::logger> logger;
    CapturedLog() {
        logger = std::make_shared<spdlog::logger>("eventlog-test", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
        logger->set_level(spdlog::level::trace);
    }
    size_t count(const std::string &needle) const {
        const std::string s = out.str();
        size_t n = 0;
        for (size_t p = s.find(needle); p != std::string::npos; p = s.find(needle, p + 1)) ++n;
        return n;
    }
};

Options opts(const fs::path &dir) {
    Options o;
    o.dir = dir;
    o.min_free_bytes = 0;
    return o;
}

std::vector<std::string> records(int n) {
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i) out.push_back("record-" + std::to_string(i) + std::string(size_t(i % 7), 'x'));
    return out;
}

std::string slurp(const fs::path &p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

} // namespace

TEST(EventLog, ReplaysWhatWasAppended) {
    TempDir dir;
    CapturedLog log;
    const auto recs = records(50);
    {
        EventLog l(opts(dir.path), log.logger);
        l.replay([](std::string_view) {});
        for (const auto &r : recs) l.append(r);
    }
    EventLog l(opts(dir.path), log.logger);
    std::vector<std::string> got;
    const auto st = l.replay([&](std::string_view r) { got.emplace_back(r); });
    EXPECT_EQ(got, recs);
    EXPECT_EQ(st.dropped_bytes, 0u);
}

// Every prefix of a real log (a torn write at any byte) replays without
// error and yields exactly the records that were complete in that prefix.
TEST(EventLog, EveryTruncationKeepsEveryCompleteRecord) {
    TempDir dir;
    CapturedLog log;
    const auto recs = records(12);
    std::vector<size_t> ends; // file size after each record
    {
        EventLog l(opts(dir.path), log.logger);
        l.replay([](std::string_view) {});
        for (const auto &r : recs) {
            l.append(r);
            ends.push_back(l.active_bytes());
        }
    }
    const std::string full = slurp(dir.path / "events.bin");
    ASSERT_EQ(full.size(), ends.back());
    for (size_t cut = 0; cut <= full.size(); ++cut) {
        TempDir d2;
        {
            std::ofstream out(d2.path / "events.bin", std::ios::binary);
            out.write(full.data(), std::streamsize(cut));
        }
        size_t complete = 0;
        while (complete < ends.size() && ends[complete] <= cut) ++complete;
        std::vector<std::string> got;
        {
            EventLog l(opts(d2.path), log.logger);
            l.replay([&](std::string_view r) { got.emplace_back(r); });
            ASSERT_EQ(got.size(), complete) << "cut at " << cut;
            for (size_t i = 0; i < complete; ++i) ASSERT_EQ(got[i], recs[i]) << "cut at " << cut;
            l.append("after-" + std::to_string(cut)); // the log continues cleanly after a torn tail
        }
        got.clear();
        EventLog again(opts(d2.path), log.logger);
        const auto st = again.replay([&](std::string_view r) { got.emplace_back(r); });
        ASSERT_EQ(got.size(), complete + 1) << "cut at " << cut;
        EXPECT_EQ(got.back(), "after-" + std::to_string(cut));
        EXPECT_EQ(st.dropped_bytes, 0u);
    }
}

TEST(EventLog, CorruptRecordEndsReplayThere) {
    TempDir dir;
    CapturedLog log;
    const auto recs = records(5);
    {
        EventLog l(opts(dir.path), log.logger);
        l.replay([](std::string_view) {});
        for (const auto &r : recs) l.append(r);
    }
    std::string bytes = slurp(dir.path / "events.bin");
    bytes[bytes.size() - 2] ^= 0x5a; // flip a bit inside the last payload
    std::vector<std::string> got;
    const auto st = EventLog::parse(bytes, [&](std::string_view r) { got.emplace_back(r); });
    EXPECT_EQ(got.size(), recs.size() - 1);
    EXPECT_GT(st.dropped_bytes, 0u);
}

TEST(EventLog, RotatesIntoZstdArchivesCappedByCount) {
    TempDir dir;
    CapturedLog log;
    Options o = opts(dir.path);
    o.rotate_bytes = 4096;
    o.max_archives = 3;
    const std::string payload(1000, 'p');
    int appended = 0;
    {
        EventLog l(o, log.logger);
        l.replay([](std::string_view) {});
        for (; appended < 40; ++appended) l.append(payload + std::to_string(appended));
    }
    size_t archives = 0;
    for (const auto &e : fs::directory_iterator(dir.path)) {
        const auto name = e.path().filename().string();
        if (name.size() > 8 && name.substr(name.size() - 8) == ".bin.zst") {
            ++archives;
            EXPECT_LT(fs::file_size(e.path()), 4096u) << "archives are compressed";
        }
    }
    EXPECT_EQ(archives, 3u);
    // Replay sees the retained archives then the active file, in order.
    EventLog l(o, log.logger);
    std::vector<std::string> got;
    l.replay([&](std::string_view r) { got.emplace_back(r); });
    ASSERT_FALSE(got.empty());
    EXPECT_EQ(got.back(), payload + std::to_string(appended - 1));
    for (size_t i = 1; i < got.size(); ++i)
        EXPECT_EQ(std::stoi(got[i].substr(1000)), std::stoi(got[i - 1].substr(1000)) + 1);
    EXPECT_LT(got.size(), size_t(appended)) << "the oldest archives were pruned";
}

// A real ENOSPC: the active file is /dev/full.
TEST(EventLog, EnospcSwitchesToCountingOnlyWithOneCriticalLine) {
    TempDir dir;
    CapturedLog log;
    fs::create_symlink("/dev/full", dir.path / "events.bin");
    EventLog l(opts(dir.path), log.logger);
    l.replay([](std::string_view) {});
    for (int i = 0; i < 100; ++i) l.append("x");
    EXPECT_TRUE(l.counting_only());
    EXPECT_EQ(l.appended(), 100u);
    EXPECT_EQ(log.count("counting-only"), 1u) << log.out.str();
    EXPECT_EQ(log.count("critical"), 1u) << log.out.str();
}

TEST(EventLog, FreeSpaceFloorDegradesBeforeTheDiskIsFull) {
    TempDir dir;
    CapturedLog log;
    Options o = opts(dir.path);
    o.min_free_bytes = uint64_t(1) << 62; // more than any disk has
    EventLog l(o, log.logger);
    l.append("x");
    EXPECT_TRUE(l.counting_only());
    EXPECT_EQ(log.count("below the floor"), 1u);
    EXPECT_FALSE(fs::exists(dir.path / "events.bin"));
}
