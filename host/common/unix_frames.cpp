#include "common/unix_frames.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace skulk::unix_frames {
namespace {

constexpr std::string_view kScheme = "unix://";

sockaddr_un address_of(const std::string &path) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof a.sun_path)
        throw std::runtime_error("unix socket path '" + path + "' is empty or longer than " +
                                 std::to_string(sizeof a.sun_path - 1) + " bytes");
    std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
    return a;
}

uint32_t read_length(const char *p) {
    const auto *b = reinterpret_cast<const unsigned char *>(p);
    return uint32_t(b[0]) | uint32_t(b[1]) << 8 | uint32_t(b[2]) << 16 | uint32_t(b[3]) << 24;
}

std::runtime_error socket_error(const std::string &what, const std::string &path) {
    return std::runtime_error(what + " unix socket " + path + ": " + std::strerror(errno));
}

} // namespace

std::string_view path_of(std::string_view endpoint) {
    return endpoint.substr(0, kScheme.size()) == kScheme ? endpoint.substr(kScheme.size()) : std::string_view{};
}

int listen_at(const std::string &path) {
    const sockaddr_un a = address_of(path);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw socket_error("cannot create", path);
    ::unlink(path.c_str()); // a stale file from a runner that crashed
    if (::bind(fd, reinterpret_cast<const sockaddr *>(&a), sizeof a) != 0 || ::chmod(path.c_str(), 0600) != 0 ||
        ::listen(fd, SOMAXCONN) != 0) {
        const auto err = socket_error("cannot listen at", path);
        ::close(fd);
        throw err;
    }
    return fd;
}

int connect_to(const std::string &path) {
    sockaddr_un a;
    try {
        a = address_of(path);
    } catch (const std::runtime_error &) {
        errno = ENAMETOOLONG;
        return -1;
    }
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    // Blocking while connecting: a full accept queue (a burst of requests the
    // runner accepts between two steps) then waits, up to this timeout.
    const timeval limit{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
    if (::connect(fd, reinterpret_cast<const sockaddr *>(&a), sizeof a) != 0 ||
        ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
        const int err = errno;
        ::close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

bool peer_is_same_user(int fd) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return false;
    return cred.uid == ::geteuid() || cred.uid == 0;
}

void append_frame(std::string &out, std::string_view payload) {
    const auto n = uint32_t(payload.size());
    const char length[4] = {char(n & 0xff), char(n >> 8 & 0xff), char(n >> 16 & 0xff), char(n >> 24 & 0xff)};
    out.append(length, 4);
    out.append(payload);
}

FrameReader::Fill FrameReader::fill(int fd) {
    size_t need = 0; // bytes the frame now arriving takes, header included
    if (end_ - begin_ >= 4) {
        const uint32_t length = read_length(buf_.data() + begin_);
        if (length > kMaxFrameBytes) return Fill::closed;
        need = 4 + size_t(length);
    }
    if (begin_ > 0 && (end_ == buf_.size() || buf_.size() - begin_ < need)) {
        std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
    }
    if (need > buf_.size()) buf_.resize(need);
    if (end_ == buf_.size()) buf_.resize(buf_.size() * 2);
    for (;;) {
        const ssize_t n = ::read(fd, buf_.data() + end_, buf_.size() - end_);
        if (n > 0) {
            end_ += size_t(n);
            return Fill::data;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Fill::nothing;
        return Fill::closed;
    }
}

bool FrameReader::next(std::string_view &frame) {
    if (end_ - begin_ < 4) return false;
    const uint32_t length = read_length(buf_.data() + begin_);
    if (length > kMaxFrameBytes || end_ - begin_ - 4 < length) return false;
    frame = std::string_view(buf_.data() + begin_ + 4, length);
    begin_ += 4 + size_t(length);
    if (begin_ == end_) begin_ = end_ = 0;
    return true;
}

bool write_some(int fd, std::string &pending) {
    size_t done = 0;
    while (done < pending.size()) {
        const ssize_t n = ::send(fd, pending.data() + done, pending.size() - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            done += size_t(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        return false;
    }
    pending.erase(0, done);
    return true;
}

} // namespace skulk::unix_frames
