#include "log/runner_relay.hpp"

#include "log/durable_file_sink.hpp"
#include "log/json_formatter.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <random>
#include <sys/socket.h>
#include <sys/un.h>
#include <system_error>
#include <unistd.h>

namespace skulk::log {
namespace {

[[noreturn]] void throw_errno(const char *what) { throw std::system_error(errno, std::generic_category(), what); }

// "@name" -> an abstract sockaddr_un (leading NUL, no filesystem entry).
socklen_t abstract_address(const std::string &address, sockaddr_un &sa) {
    std::memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    const std::string name = address.substr(1);
    const size_t n = std::min(name.size(), sizeof sa.sun_path - 1);
    std::memcpy(sa.sun_path + 1, name.data(), n);
    return socklen_t(offsetof(sockaddr_un, sun_path) + 1 + n);
}

constexpr size_t kMaxDatagram = 16384;

} // namespace

RunnerLogRelay::RunnerLogRelay(std::vector<spdlog::sink_ptr> sinks) : sinks_(std::move(sinks)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw_errno("socket");
    std::random_device rd;
    char name[64];
    std::snprintf(name, sizeof name, "@skulk-log-%d-%08x", int(::getpid()), unsigned(rd()));
    sockaddr_un sa;
    const socklen_t len = abstract_address(name, sa);
    if (::bind(fd_, reinterpret_cast<sockaddr *>(&sa), len) != 0) {
        ::close(fd_);
        throw_errno("bind the runner log relay");
    }
    const int on = 1, rcvbuf = 1 << 20;
    ::setsockopt(fd_, SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    ::setenv("SKULK_LOG_RELAY", name, 1);
}

RunnerLogRelay::~RunnerLogRelay() {
    stop();
    if (fd_ >= 0) ::close(fd_);
}

void RunnerLogRelay::start() {
    if (thread_.joinable()) return;
    if (::pipe2(stop_pipe_, O_CLOEXEC) != 0) throw_errno("pipe2");
    thread_ = std::thread([this] { run(); });
}

void RunnerLogRelay::stop() {
    if (!thread_.joinable()) return;
    const char c = 's';
    const ssize_t n = ::write(stop_pipe_[1], &c, 1);
    (void)n;
    thread_.join();
    for (int &fd : stop_pipe_) ::close(std::exchange(fd, -1));
}

void RunnerLogRelay::run() {
    std::vector<char> buf(kMaxDatagram);
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
    const uid_t me = ::getuid();
    for (;;) {
        pollfd fds[2] = {{fd_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return;
        }
        if (fds[1].revents) return;
        for (;;) { // drain what is queued
            iovec iov{buf.data(), buf.size()};
            msghdr m{};
            m.msg_iov = &iov;
            m.msg_iovlen = 1;
            m.msg_control = control;
            m.msg_controllen = sizeof control;
            const ssize_t n = ::recvmsg(fd_, &m, MSG_DONTWAIT);
            if (n < 0) break;
            const cmsghdr *c = CMSG_FIRSTHDR(&m);
            if (!c || c->cmsg_type != SCM_CREDENTIALS || reinterpret_cast<const ucred *>(CMSG_DATA(c))->uid != me)
                continue; // not one of our runners
            deliver(std::string_view(buf.data(), size_t(n)));
        }
    }
}

void RunnerLogRelay::deliver(std::string_view d) {
    std::string_view parts[4];
    for (auto &p : parts) {
        const auto tab = d.find('\t');
        if (tab == std::string_view::npos) return; // malformed: dropped
        p = d.substr(0, tab);
        d.remove_prefix(tab + 1);
    }
    if (parts[0].size() != 1 || parts[0][0] < '0' || parts[0][0] > '6') return;
    const auto level = spdlog::level::level_enum(parts[0][0] - '0');
    auto &fields = thread_message_fields();
    fields = {{"runner_id", std::string(parts[2])}, {"instance_id", std::string(parts[3])}};
    const std::string component(parts[1]);
    // JSON sinks carry the runner in fields; the human skulk.log in the text.
    const std::string human = "[" + std::string(parts[2]) + "] " + std::string(d);
    spdlog::details::log_msg json_msg(spdlog::string_view_t(component.data(), component.size()), level,
                                      spdlog::string_view_t(d.data(), d.size()));
    spdlog::details::log_msg human_msg(spdlog::string_view_t(component.data(), component.size()), level,
                                       spdlog::string_view_t(human.data(), human.size()));
    for (const auto &sink : sinks_)
        if (sink->should_log(level)) sink->log(dynamic_cast<DurableFileSink *>(sink.get()) ? human_msg : json_msg);
    fields.clear();
    received_.fetch_add(1, std::memory_order_relaxed);
}

RelaySink::RelaySink(const std::string &address, std::string runner_id, std::string instance_id)
    : header_("\t" + runner_id + "\t" + instance_id + "\t") {
    if (address.size() < 2 || address[0] != '@') throw std::system_error(EINVAL, std::generic_category(), "SKULK_LOG_RELAY");
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw_errno("socket");
    sockaddr_un sa;
    const socklen_t len = abstract_address(address, sa);
    if (::connect(fd_, reinterpret_cast<sockaddr *>(&sa), len) != 0) {
        ::close(fd_);
        throw_errno("connect to the daemon's log relay");
    }
}

RelaySink::~RelaySink() {
    if (fd_ >= 0) ::close(fd_);
}

void RelaySink::sink_it_(const spdlog::details::log_msg &msg) {
    std::string d;
    d.reserve(8 + msg.logger_name.size() + header_.size() + msg.payload.size());
    d += char('0' + int(msg.level));
    d += '\t';
    d.append(msg.logger_name.data(), msg.logger_name.size());
    d += header_;
    d.append(msg.payload.data(), std::min(msg.payload.size(), kMaxDatagram - d.size() - 1));
    // Never waits: a daemon that cannot take it now loses this line.
    ::send(fd_, d.data(), d.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
}

} // namespace skulk::log
