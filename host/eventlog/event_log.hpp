// Durable, append-only log of opaque records (the cluster stores serialised
// indexed events in it). One active file plus zstd-compressed archives.
//
// File format (docs/architecture.md, "Event log"): an 8-byte header
// "SKEVLOG1", then records of [u32 LE payload length][u32 LE CRC-32 of the
// payload][payload].
//
// Damage (a torn tail from power loss, a flipped byte anywhere) never costs
// an intact record: replay resynchronises past it (recovery.hpp), keeps
// every intact record that proves its place, moves the damaged file aside
// as events.bin.damaged-<UTC time> (evidence is never deleted) and writes a
// clean events.bin with what was kept. When the damage left a gap in the
// middle (later events depend on missing ones), Options::on_gap decides:
// refuse (replay returns ReplayStats::refused and changes nothing on disk),
// fill_from_cluster (go on: the master's snapshot replaces this node's view)
// or accept (go on from the intact records).
//
// Disk is bounded: the active file rotates at rotate_bytes into
// events.<seq>.bin.zst; archives are capped by count and total bytes. Below a
// free-space floor (checked at open and every free_check_every appends via
// statvfs) or on any write error (ENOSPC) the log drops to counting-only mode
// with one CRITICAL line: appends are counted, not written, and the node
// keeps serving.
#pragma once

#include "eventlog/recovery.hpp"

#include <spdlog/logger.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace skulk::eventlog {

enum class GapPolicy { refuse, fill_from_cluster, accept };

struct Options {
    std::filesystem::path dir;
    uint64_t rotate_bytes = 64ull << 20;
    size_t max_archives = 5;
    uint64_t max_archive_bytes = 1ull << 30;
    uint64_t min_free_bytes = 2ull << 30;   // SKULK_EVENTLOG_MIN_FREE_BYTES
    uint32_t free_check_every = 1024;
    GapPolicy on_gap = GapPolicy::refuse;  // SKULK_EVENTLOG_ACCEPT_GAP, --bootstrap-peers
    PositionOf position_of = json_position; // where a record sits, to prove order past damage
};

struct ReplayStats {
    uint64_t records = 0;
    uint64_t dropped_bytes = 0;       // damaged bytes of the active file (not replayed)
    std::string error;                // an archive that could not be read (replay went on)
    std::vector<Region> damaged;      // of the active file
    std::string gap;                  // the events the damage lost in the middle ("" for none)
    std::filesystem::path moved_aside; // the damaged original, kept ("" when not moved)
    std::string refused;              // on_gap == refuse and a gap: why; nothing was replayed or changed
};

class EventLog {
public:
    EventLog(Options options, std::shared_ptr<spdlog::logger> log);
    ~EventLog();
    EventLog(const EventLog &) = delete;
    EventLog &operator=(const EventLog &) = delete;

    // Calls fn for every intact record, oldest archive first, then the
    // active file; recovers a damaged active file (see above). Call once,
    // before the first append.
    ReplayStats replay(const std::function<void(std::string_view)> &fn);

    void append(std::string_view record);

    bool counting_only() const { return counting_only_; }
    uint64_t appended() const { return appended_; }      // since open, written or counted
    uint64_t active_bytes() const { return active_bytes_; }
    std::filesystem::path active_path() const { return options_.dir / "events.bin"; }

    // Parses one log file's bytes (header + records), resynchronising past
    // damage; calls fn for each intact record. Exposed for tests.
    static ReplayStats parse(std::string_view bytes, const std::function<void(std::string_view)> &fn,
                             const PositionOf &position_of = json_position);

private:
    ReplayStats replay_active(const std::function<void(std::string_view)> &fn);
    std::filesystem::path recover_file(const Scan &s);
    void open_active();
    void rotate();
    void prune_archives();
    void degrade(const std::string &why);
    bool below_floor();

    Options options_;
    std::shared_ptr<spdlog::logger> log_;
    int fd_ = -1;
    bool counting_only_ = false;
    uint64_t appended_ = 0;
    uint64_t active_bytes_ = 0;
    std::string buffer_; // reused per append: header + payload in one write()
};

} // namespace skulk::eventlog
