// skulk.log: the durable record of one daemon. It starts fresh every launch
// (the previous run becomes skulk.log.<n>.zst), rotates when it reaches
// rotate_bytes (the full file is compressed on a helper thread, so the
// logging thread only renames), and keeps at most keep_archives archives,
// so the directory is bounded however long the node runs. One daemon per
// directory: a second one finds the lock taken and gets no durable log.
#pragma once

#include <spdlog/sinks/base_sink.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>

namespace skulk::log {

struct DurableLogOptions {
    std::filesystem::path dir;
    std::string base = "skulk.log";
    uint64_t rotate_bytes = 100ull << 20;
    unsigned keep_archives = 5;
};

class DurableFileSink final : public spdlog::sinks::base_sink<std::mutex> {
public:
    // Throws std::runtime_error naming the path when the directory or file
    // cannot be made, or another process holds the directory's lock.
    explicit DurableFileSink(DurableLogOptions options);
    ~DurableFileSink() override;

    std::filesystem::path path() const { return options_.dir / options_.base; }
    // Archiving problems at start or rotation ("" when none): logged by the caller.
    std::string take_warning();

protected:
    void sink_it_(const spdlog::details::log_msg &msg) override;
    void flush_() override;

private:
    void open_fresh();
    void rotate();
    void archive_leftovers();

    DurableLogOptions options_;
    int lock_fd_ = -1;
    std::FILE *file_ = nullptr;
    uint64_t size_ = 0;
    std::thread compressor_; // at most one rotation compressing at a time
    std::mutex warning_mutex_;
    std::string warning_;
};

} // namespace skulk::log
