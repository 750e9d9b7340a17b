#include "runner/unix_clients.hpp"

#include "log/logging.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace skulk::runner {
namespace {

// A ZeroMQ peer may not choose an identity that starts with a zero byte, and
// the ones ZeroMQ makes up are 5 bytes long, so these never collide with one.
const std::string kClientPrefix("\0unix-", 6);

int open_spare() { return ::open("/dev/null", O_RDONLY | O_CLOEXEC); }

} // namespace

UnixClients::UnixClients(const std::string &path)
    : path_(path), listen_fd_(unix_frames::listen_at(path)), spare_fd_(open_spare()) {
    struct stat st {};
    if (::stat(path_.c_str(), &st) == 0) file_inode_ = st.st_ino;
}

UnixClients::~UnixClients() {
    for (auto &[id, c] : connections_) ::close(c.fd);
    if (spare_fd_ >= 0) ::close(spare_fd_);
    // The file goes too, unless a newer runner has bound the path since.
    struct stat st {};
    if (::stat(path_.c_str(), &st) == 0 && st.st_ino == file_inode_) ::unlink(path_.c_str());
    ::close(listen_fd_);
}

bool UnixClients::owns(const std::string &client) { return client.compare(0, kClientPrefix.size(), kClientPrefix) == 0; }

void UnixClients::add_poll_items(std::vector<zmq::pollitem_t> &items) const {
    items.push_back({nullptr, listen_fd_, ZMQ_POLLIN, 0});
    for (const auto &[id, c] : connections_)
        items.push_back({nullptr, c.fd, short(ZMQ_POLLIN | (c.out.empty() ? 0 : ZMQ_POLLOUT)), 0});
}

void UnixClients::accept_all() {
    for (;;) {
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if ((errno == EMFILE || errno == ENFILE) && turn_away_for_want_of_descriptors()) continue;
            return; // EAGAIN: none waiting (anything else: the next poll retries)
        }
        if (!unix_frames::peer_is_same_user(fd)) {
            log::get("runner")->warn("{}: turned away a client of another user", path_);
            ::close(fd);
            continue;
        }
        connections_.emplace(kClientPrefix + std::to_string(serial_++), Connection{fd, {}, {}});
    }
}

bool UnixClients::turn_away_for_want_of_descriptors() {
    // Left in the backlog, the connection would keep the listener readable:
    // every poll would return at once (a busy loop while idle), and its
    // client would wait for an answer that never comes. So take it with the
    // spare descriptor and close it: the client sees the end at once (the
    // API thread answers a retryable 500) and the runner says why.
    if (spare_fd_ < 0) return false;
    ::close(spare_fd_);
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) {
        ::close(fd);
        log::get("runner")->error("{}: out of file descriptors (RLIMIT_NOFILE); closed a new client's connection", path_);
    }
    spare_fd_ = open_spare();
    return fd >= 0;
}

void UnixClients::close(std::map<std::string, Connection>::iterator it, std::vector<std::string> &gone) {
    ::close(it->second.fd);
    gone.push_back(it->first);
    connections_.erase(it);
}

void UnixClients::service(std::vector<Frame> &frames, std::vector<std::string> &gone) {
    // One poll() tells which sockets have something, instead of a read() on
    // every connection at every scheduler step.
    poll_items_.clear();
    add_poll_items(poll_items_);
    try {
        zmq::poll(poll_items_, std::chrono::milliseconds(0));
    } catch (const zmq::error_t &) {
        return; // EINTR: the next take() comes soon
    }

    size_t i = 1;
    for (auto it = connections_.begin(); it != connections_.end(); ++i) {
        Connection &c = it->second;
        const short ready = poll_items_[i].revents; // a hang-up reads as ZMQ_POLLERR
        bool alive = !c.failed;
        if (alive && (ready & ZMQ_POLLOUT)) alive = unix_frames::write_some(c.fd, c.out);
        if (alive && (ready & (ZMQ_POLLIN | ZMQ_POLLERR))) {
            alive = c.in.fill(c.fd) != unix_frames::FrameReader::Fill::closed;
            std::string_view frame;
            while (c.in.next(frame)) frames.push_back(Frame{it->first, std::string(frame)});
        }
        if (alive) ++it;
        else close(it++, gone);
    }
    if (poll_items_[0].revents & ZMQ_POLLIN) accept_all(); // after the loop: new ones are not in poll_items_
}

void UnixClients::send(const std::string &client, std::string_view frame) {
    const auto it = connections_.find(client);
    if (it == connections_.end() || it->second.failed) return; // closed already, or about to be
    Connection &c = it->second;
    bool alive;
    if (c.out.empty()) { // the usual case: the whole frame goes in one write
        scratch_.clear();
        unix_frames::append_frame(scratch_, frame);
        alive = unix_frames::write_some(c.fd, scratch_);
        if (alive && !scratch_.empty()) c.out = scratch_;
    } else {
        unix_frames::append_frame(c.out, frame);
        alive = unix_frames::write_some(c.fd, c.out);
    }
    c.failed = !alive;
}

} // namespace skulk::runner
