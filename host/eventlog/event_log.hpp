// Durable, append-only log of opaque records (the cluster stores serialised
// indexed events in it). One active file plus zstd-compressed archives.
//
// File format (docs/architecture.md, "Cluster"): an 8-byte header
// "SKEVLOG1", then records of [u32 LE payload length][u32 LE CRC-32 of the
// payload][payload]. A record cut short by power loss (or a corrupt one)
// ends replay: everything before it is kept, it and everything after it are
// dropped and the file is truncated to the last good record.
//
// Disk is bounded: the active file rotates at rotate_bytes into
// events.<seq>.bin.zst; archives are capped by count and total bytes. Below a
// free-space floor (checked at open and every free_check_every appends via
// statvfs) or on any write error (ENOSPC) the log drops to counting-only mode
// with one CRITICAL line: appends are counted, not written, and the node
// keeps serving.
#pragma once

#include <spdlog/logger.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace skulk::eventlog {

struct Options {
    std::filesystem::path dir;
    uint64_t rotate_bytes = 64ull << 20;
    size_t max_archives = 5;
    uint64_t max_archive_bytes = 1ull << 30;
    uint64_t min_free_bytes = 2ull << 30;   // SKULK_EVENTLOG_MIN_FREE_BYTES
    uint32_t free_check_every = 1024;
};

struct ReplayStats {
    uint64_t records = 0;
    uint64_t dropped_bytes = 0; // a torn or corrupt tail of the active file
    std::string error;          // an archive that could not be read (replay went on)
};

class EventLog {
public:
    EventLog(Options options, std::shared_ptr<spdlog::logger> log);
    ~EventLog();
    EventLog(const EventLog &) = delete;
    EventLog &operator=(const EventLog &) = delete;

    // Calls fn for every complete record, oldest archive first, then the
    // active file; truncates a torn tail. Call once, before the first append.
    ReplayStats replay(const std::function<void(std::string_view)> &fn);

    void append(std::string_view record);

    bool counting_only() const { return counting_only_; }
    uint64_t appended() const { return appended_; }      // since open, written or counted
    uint64_t active_bytes() const { return active_bytes_; }
    std::filesystem::path active_path() const { return options_.dir / "events.bin"; }

    // Parses one log file's bytes (header + records). Exposed for tests.
    static ReplayStats parse(std::string_view bytes, const std::function<void(std::string_view)> &fn,
                             uint64_t *good_prefix = nullptr);

private:
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
