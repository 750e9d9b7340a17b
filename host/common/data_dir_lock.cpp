#include "common/data_dir_lock.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/file.h>
#include <unistd.h>

namespace skulk {
namespace {

std::string read_pid(int fd) {
    char buf[32] = {};
    const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    std::string s(buf, n > 0 ? size_t(n) : 0);
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s.empty() ? "unknown" : s;
}

} // namespace

DataDirLock::DataDirLock(const std::filesystem::path &data_dir) {
    const auto path = file(data_dir);
    // O_CLOEXEC: runners and other exec'd children must not inherit the lock.
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        error_ = "cannot open " + path.string() + ": " + std::strerror(errno);
        return;
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        const int err = errno;
        if (err == EWOULDBLOCK) {
            in_use_ = true;
            error_ = "data dir " + data_dir.string() + " is in use by pid " + read_pid(fd) + " (lock file " +
                     path.string() + ")";
        } else {
            error_ = "cannot lock " + path.string() + ": " + std::strerror(err);
        }
        ::close(fd);
        return;
    }
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) != ssize_t(pid.size())) {
        // The lock holds without the pid; only the second daemon's message loses it.
        error_ = "cannot write the pid to " + path.string() + ": " + std::strerror(errno);
    }
    fd_ = fd;
}

DataDirLock::~DataDirLock() {
    // Closing drops the lock; the file stays (removing it would race a
    // second daemon that opened it before the unlink and then locks an
    // orphaned inode while a third creates a fresh file).
    if (fd_ >= 0) ::close(fd_);
}

} // namespace skulk
