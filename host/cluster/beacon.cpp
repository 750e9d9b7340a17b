#include "cluster/beacon.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace skulk::cluster {
namespace {
// "SKB1 <ns-length>:<ns> <node-id> <port>": explicit, versioned, tiny.
constexpr char kMagic[] = "SKB1 ";
} // namespace

Beacon::Beacon(uint16_t udp_port) : port_(udp_port) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) { error_ = std::strerror(errno); return; }
    int on = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    ::setsockopt(fd_, SOL_SOCKET, SO_BROADCAST, &on, sizeof on);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port_);
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    if (::bind(fd_, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0) {
        error_ = "cannot bind UDP port " + std::to_string(port_) + ": " + std::strerror(errno);
        ::close(fd_);
        fd_ = -1;
    }
}

Beacon::~Beacon() {
    if (fd_ >= 0) ::close(fd_);
}

void Beacon::send(const BeaconInfo &info) {
    if (fd_ < 0) return;
    const std::string msg = std::string(kMagic) + std::to_string(info.ns.size()) + ":" + info.ns + " " + info.node_id +
                            " " + std::to_string(info.port);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port_);
    to.sin_addr.s_addr = htonl(INADDR_BROADCAST);
    ::sendto(fd_, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr *>(&to), sizeof to); // best effort
}

std::optional<BeaconInfo> Beacon::receive() {
    if (fd_ < 0) return std::nullopt;
    char buf[512];
    sockaddr_in from{};
    socklen_t len = sizeof from;
    const ssize_t n = ::recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr *>(&from), &len);
    if (n <= 0) return std::nullopt;
    std::string s(buf, size_t(n));
    if (s.rfind(kMagic, 0) != 0) return std::nullopt;
    s.erase(0, sizeof kMagic - 1);
    const auto colon = s.find(':');
    if (colon == std::string::npos) return std::nullopt;
    BeaconInfo info;
    try {
        const size_t ns_len = std::stoul(s.substr(0, colon));
        if (colon + 1 + ns_len > s.size()) return std::nullopt;
        info.ns = s.substr(colon + 1, ns_len);
        const std::string rest = s.substr(colon + 1 + ns_len);
        const auto sp = rest.rfind(' ');
        if (rest.empty() || rest[0] != ' ' || sp == 0 || sp == std::string::npos) return std::nullopt;
        info.node_id = rest.substr(1, sp - 1);
        const unsigned long port = std::stoul(rest.substr(sp + 1));
        if (port == 0 || port > 65535) return std::nullopt;
        info.port = uint16_t(port);
    } catch (const std::exception &) {
        return std::nullopt;
    }
    char ip[INET_ADDRSTRLEN] = {0};
    ::inet_ntop(AF_INET, &from.sin_addr, ip, sizeof ip);
    info.address = ip;
    return info;
}

} // namespace skulk::cluster
