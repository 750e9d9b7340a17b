#include "log/durable_file_sink.hpp"

#include "log/log_archive.hpp"

#include <spdlog/pattern_formatter.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <sys/file.h>
#include <unistd.h>

namespace skulk::log {

DurableFileSink::DurableFileSink(DurableLogOptions options) : options_(std::move(options)) {
    set_formatter_(std::make_unique<spdlog::pattern_formatter>("%Y-%m-%d %H:%M:%S.%e %-5l [%n] %v"));
    std::error_code ec;
    std::filesystem::create_directories(options_.dir, ec);
    if (ec) throw std::runtime_error("cannot create the log dir " + options_.dir.string() + ": " + ec.message());
    const auto lock = options_.dir / ("." + options_.base + ".lock");
    lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd_ < 0) throw std::runtime_error("cannot open " + lock.string() + ": " + std::strerror(errno));
    if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
        ::close(lock_fd_);
        lock_fd_ = -1;
        throw std::runtime_error("another skulk-host writes " + path().string() +
                                 " (set SKULK_LOG_DIR to give this one its own directory)");
    }
    archive_leftovers();
    open_fresh();
}

DurableFileSink::~DurableFileSink() {
    if (compressor_.joinable()) compressor_.join();
    if (file_) std::fclose(file_);
    if (lock_fd_ >= 0) ::close(lock_fd_); // releases the flock
}

std::string DurableFileSink::take_warning() {
    std::lock_guard lk(warning_mutex_);
    return std::exchange(warning_, std::string());
}

// At start: raw archives a crash left half-done, then the previous run's
// skulk.log, become .zst archives (synchronously: nothing logs to this file yet).
void DurableFileSink::archive_leftovers() {
    std::string warnings;
    for (const auto &a : list_archives(options_.dir, options_.base))
        if (!a.compressed)
            if (auto err = compress_file(a.path, a.path.string() + ".zst"); !err.empty()) warnings += err + "; ";
    std::error_code ec;
    if (std::filesystem::exists(path(), ec) && std::filesystem::file_size(path(), ec) > 0) {
        const auto raw = options_.dir / (options_.base + "." + std::to_string(next_archive_index(options_.dir, options_.base)));
        std::filesystem::rename(path(), raw, ec);
        if (ec) warnings += "cannot rename " + path().string() + ": " + ec.message() + "; ";
        else if (auto err = compress_file(raw, raw.string() + ".zst"); !err.empty()) warnings += err + "; ";
    }
    prune_archives(options_.dir, options_.base, options_.keep_archives);
    std::lock_guard lk(warning_mutex_);
    warning_ = warnings;
}

void DurableFileSink::open_fresh() {
    file_ = std::fopen(path().c_str(), "we"); // truncates: this run starts at byte 0
    if (!file_) throw std::runtime_error("cannot create " + path().string() + ": " + std::strerror(errno));
    size_ = 0;
}

// Runs on the logging thread: rename and hand the compression to a helper.
void DurableFileSink::rotate() {
    std::fclose(file_);
    file_ = nullptr;
    if (compressor_.joinable()) compressor_.join(); // the previous rotation's compression
    const unsigned n = next_archive_index(options_.dir, options_.base);
    const auto raw = options_.dir / (options_.base + "." + std::to_string(n));
    std::error_code ec;
    std::filesystem::rename(path(), raw, ec);
    if (!ec) {
        compressor_ = std::thread([this, raw] {
            auto err = compress_file(raw, raw.string() + ".zst");
            prune_archives(options_.dir, options_.base, options_.keep_archives);
            if (!err.empty()) {
                std::lock_guard lk(warning_mutex_);
                warning_ += err + "; ";
            }
        });
    }
    file_ = std::fopen(path().c_str(), ec ? "ae" : "we");
    size_ = 0;
}

void DurableFileSink::sink_it_(const spdlog::details::log_msg &msg) {
    spdlog::memory_buf_t line;
    formatter_->format(msg, line);
    if (size_ > 0 && size_ + line.size() > options_.rotate_bytes) rotate();
    if (!file_) file_ = std::fopen(path().c_str(), "ae"); // the reopen after a rotation failed: try again
    if (!file_) return; // the dir is gone or unwritable: the other sinks still log
    size_ += std::fwrite(line.data(), 1, line.size(), file_);
}

void DurableFileSink::flush_() {
    if (file_) std::fflush(file_);
}

} // namespace skulk::log
