// One data dir, one daemon: an exclusive flock(2) on <data-dir>/skulk.lock,
// held for the life of the process. The file holds the holder's pid so a
// second daemon can say who has it. The kernel drops the lock when the
// holder exits however it exits (kill -9 included), so a stale file left
// behind never blocks a restart.
#pragma once

#include <filesystem>
#include <string>

namespace skulk {

class DataDirLock {
public:
    // Takes the lock or fails; never waits. On failure error() says why:
    // "data dir X is in use by pid N" when another process holds it.
    explicit DataDirLock(const std::filesystem::path &data_dir);
    ~DataDirLock();
    DataDirLock(const DataDirLock &) = delete;
    DataDirLock &operator=(const DataDirLock &) = delete;

    bool held() const { return fd_ >= 0; }
    bool in_use() const { return in_use_; } // failed because another process holds it
    const std::string &error() const { return error_; }
    static std::filesystem::path file(const std::filesystem::path &data_dir) { return data_dir / "skulk.lock"; }

private:
    int fd_ = -1;
    bool in_use_ = false;
    std::string error_;
};

} // namespace skulk
