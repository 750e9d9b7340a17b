// A damaged event log loses nothing intact: a real log (real events, written
// by the EventLog writer) is damaged at every byte in turn and replayed.
// Invariants at every offset: every record but the damaged one comes back in
// order, the damaged one never does, the damaged original is kept aside byte
// for byte, the new events.bin is clean, and a gap in the middle is named
// (and refused when the node is alone, with nothing on disk changed).
#include "cluster/wire.hpp"
#include "eventlog/event_log.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace fs = std::filesystem;
using namespace skulk;
using eventlog::EventLog;
using eventlog::GapPolicy;
using eventlog::Options;

namespace {

struct TempDir {
    fs::path path;
    TempDir() {
        std::random_device rd;
        path = fs::temp_directory_path() / ("skulk-eventlog-recovery-" + std::to_string(rd()) + std::to_string(rd()));
        fs::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

std::shared_ptr<spdlog::logger> quiet_logger(std::ostringstream &out) {
    auto l = std::make_shared<spdlog::logger>("eventlog-recovery-test", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
    l->set_level(spdlog::level::trace);
    return l;
}

Options opts(const fs::path &dir, GapPolicy on_gap) {
    Options o;
    o.dir = dir;
    o.min_free_bytes = 0;
    o.on_gap = on_gap;
    return o;
}

std::string slurp(const fs::path &p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_file(const fs::path &p, const std::string &bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), std::streamsize(bytes.size()));
}

// What a lone master writes: a session, then events of its term.
std::vector<std::string> real_events() {
    std::vector<state::Event> es;
    es.push_back({1, 0, state::SessionStarted{"node-a", {}}});
    es.push_back({1, 1, state::NodeLeft{"node-b"}});
    es.push_back({1, 2, state::InstanceDeleted{"inst-1", "deleted by the user"}});
    es.push_back({1, 3, state::TaskFailed{"task-7", "the runner went away; the request may be retried"}});
    es.push_back({1, 4, state::CustomModelCardDeleted{"my-model"}});
    es.push_back({2, 0, state::SessionStarted{"node-c", {}}});
    es.push_back({2, 1, state::NodeTimedOut{"node-a"}});
    std::vector<std::string> out;
    for (const auto &e : es) out.push_back(cluster::encode_event(e));
    return out;
}

// The log as the writer made it, and the offset each record starts at.
struct RealLog {
    std::vector<std::string> records = real_events();
    std::string bytes;
    std::vector<size_t> starts;
    RealLog() {
        TempDir dir;
        std::ostringstream out;
        {
            EventLog l(opts(dir.path, GapPolicy::refuse), quiet_logger(out));
            l.replay([](std::string_view) {});
            for (const auto &r : records) {
                starts.push_back(l.active_bytes());
                l.append(r);
            }
        }
        bytes = slurp(dir.path / "events.bin");
    }
    // The record whose bytes (header included) hold `offset`; -1 for the file header.
    int record_at(size_t offset) const {
        int r = -1;
        for (size_t i = 0; i < starts.size(); ++i)
            if (offset >= starts[i]) r = int(i);
        return r;
    }
};

std::vector<fs::path> asides(const fs::path &dir) {
    std::vector<fs::path> out;
    for (const auto &e : fs::directory_iterator(dir))
        if (e.path().filename().string().rfind("events.bin.damaged-", 0) == 0) out.push_back(e.path());
    return out;
}

void check_flip_at(const RealLog &log, size_t offset, uint8_t mask) {
    SCOPED_TRACE("byte " + std::to_string(offset) + " ^ " + std::to_string(mask));
    std::string damaged = log.bytes;
    damaged[offset] = char(uint8_t(damaged[offset]) ^ mask);
    const int hit = log.record_at(offset);
    std::vector<std::string> expected;
    for (int i = 0; i < int(log.records.size()); ++i)
        if (i != hit) expected.push_back(log.records[size_t(i)]);
    const bool tail = hit == int(log.records.size()) - 1;
    const bool gap = hit >= 0 && !tail;

    // Alone, without the override: a gap is refused and nothing changes.
    {
        TempDir dir;
        write_file(dir.path / "events.bin", damaged);
        std::ostringstream out;
        EventLog l(opts(dir.path, GapPolicy::refuse), quiet_logger(out));
        size_t calls = 0;
        const auto st = l.replay([&](std::string_view) { ++calls; });
        EXPECT_EQ(!st.refused.empty(), gap) << st.refused;
        if (gap) {
            EXPECT_EQ(calls, 0u);
            EXPECT_EQ(slurp(dir.path / "events.bin"), damaged) << "a refusal changes nothing on disk";
            EXPECT_TRUE(asides(dir.path).empty());
            EXPECT_NE(st.refused.find((dir.path / "events.bin").string()), std::string::npos) << st.refused;
            // The missing range: one index inside a term, else the positions on either side.
            const std::string range = hit == 0   ? "before term 1 idx 1"
                                      : hit == 4 ? "after term 1 idx 3 and before term 2 idx 0"
                                      : hit == 5 ? "after term 1 idx 4 and before term 2 idx 1"
                                                 : "term 1 idx " + std::to_string(hit) + ".." + std::to_string(hit);
            EXPECT_NE(st.refused.find("the events " + range + " are missing"), std::string::npos) << st.refused;
        }
    }
    // With the gap accepted (or a torn tail, or only the header hit): every intact record, in order.
    TempDir dir;
    write_file(dir.path / "events.bin", damaged);
    std::ostringstream out;
    std::vector<std::string> got;
    {
        EventLog l(opts(dir.path, GapPolicy::accept), quiet_logger(out));
        const auto st = l.replay([&](std::string_view r) { got.emplace_back(r); });
        EXPECT_TRUE(st.refused.empty());
        EXPECT_EQ(got, expected) << "no intact record lost, no damaged one accepted";
        EXPECT_EQ(!st.gap.empty(), gap) << st.gap;
        EXPECT_FALSE(st.damaged.empty());
        const auto kept = asides(dir.path);
        ASSERT_EQ(kept.size(), 1u);
        EXPECT_EQ(kept[0], st.moved_aside);
        EXPECT_EQ(slurp(kept[0]), damaged) << "the damaged original is kept byte for byte";
        l.append(log.records.back()); // and the log goes on
    }
    // The new events.bin is clean: what was kept, then the new record.
    std::vector<std::string> again;
    EventLog l(opts(dir.path, GapPolicy::refuse), quiet_logger(out));
    const auto st = l.replay([&](std::string_view r) { again.emplace_back(r); });
    expected.push_back(log.records.back());
    EXPECT_EQ(again, expected);
    EXPECT_TRUE(st.damaged.empty());
    EXPECT_EQ(asides(dir.path).size(), 1u);
}

} // namespace

TEST(EventLogRecovery, EveryByteOfARealLogFlippedLosesOnlyTheDamagedRecord) {
    const RealLog log;
    ASSERT_EQ(log.starts.size(), log.records.size());
    for (size_t offset = 0; offset < log.bytes.size(); ++offset) {
        check_flip_at(log, offset, 0xff);
        check_flip_at(log, offset, 0x01);
        if (::testing::Test::HasFailure()) break; // one offset's story is enough
    }
}

TEST(EventLogRecovery, TwoDamagedRecordsNameTwoGaps) {
    const RealLog log;
    std::string damaged = log.bytes;
    damaged[log.starts[1] + 12] ^= 0x20;
    damaged[log.starts[3] + 2] ^= 0x01; // the length field
    const std::string path_bin = "events.bin";
    TempDir dir;
    write_file(dir.path / path_bin, damaged);
    std::ostringstream out;
    EventLog l(opts(dir.path, GapPolicy::fill_from_cluster), quiet_logger(out));
    std::vector<std::string> got;
    const auto st = l.replay([&](std::string_view r) { got.emplace_back(r); });
    EXPECT_EQ(got, (std::vector<std::string>{log.records[0], log.records[2], log.records[4], log.records[5], log.records[6]}));
    EXPECT_EQ(st.gap, "term 1 idx 1..1; term 1 idx 3..3");
    EXPECT_EQ(st.damaged.size(), 2u);
    EXPECT_NE(out.str().find("snapshot"), std::string::npos) << out.str();
}

TEST(EventLogRecovery, ARecordOutOfOrderPastDamageIsNotAccepted) {
    // After damage, an intact record must prove its place: a stale copy of an
    // earlier event (same term, lower index) stays with the damage.
    RealLog log;
    std::string bytes = log.bytes.substr(0, log.starts[4]);       // records 0..3
    bytes[log.starts[3] + 9] ^= 0x04;                              // damage record 3
    bytes += log.bytes.substr(log.starts[1], log.starts[2] - log.starts[1]); // record 1 again: out of order
    bytes += log.bytes.substr(log.starts[4]);                      // records 4..6
    std::vector<std::string> got;
    const auto st = EventLog::parse(bytes, [&](std::string_view r) { got.emplace_back(r); });
    EXPECT_EQ(got, (std::vector<std::string>{log.records[0], log.records[1], log.records[2], log.records[4],
                                             log.records[5], log.records[6]}));
    ASSERT_EQ(st.damaged.size(), 1u);
    EXPECT_EQ(st.damaged[0].offset, log.starts[3]);
}

TEST(EventLogRecovery, AGapBeforeARestartedSessionOfTheSameTermIsNamedByItsSides) {
    // A lone node restarted starts its terms afresh: term 1 idx 0 may follow term 1 idx 4.
    const RealLog log;
    std::string bytes = log.bytes.substr(0, log.starts[5]);         // term 1, idx 0..4
    bytes += log.bytes.substr(log.starts[0], log.starts[2] - log.starts[0]); // term 1 idx 0..1 again: a new session
    bytes[log.starts[4] + 10] ^= 0x40;                               // damage term 1 idx 4
    std::vector<std::string> got;
    TempDir dir;
    write_file(dir.path / "events.bin", bytes);
    std::ostringstream out;
    EventLog l(opts(dir.path, GapPolicy::accept), quiet_logger(out));
    const auto st = l.replay([&](std::string_view r) { got.emplace_back(r); });
    EXPECT_EQ(got, (std::vector<std::string>{log.records[0], log.records[1], log.records[2], log.records[3], log.records[0],
                                             log.records[1]}));
    EXPECT_EQ(st.gap, "after term 1 idx 3 and before term 1 idx 0");
}
