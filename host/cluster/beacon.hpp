// LAN discovery: a UDP broadcast beacon every couple of seconds carrying
// namespace, node id and cluster port; listeners learn endpoints from it.
// Port: SKULK_BEACON_PORT (default 52417). SKULK_BEACONS=0 turns beacons off
// (tests on loopback use --bootstrap-peers instead).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace skulk::cluster {

struct BeaconInfo {
    std::string ns;
    std::string node_id;
    uint16_t port = 0;     // cluster (PUB) port
    std::string address;   // sender IP, filled on receipt
};

class Beacon {
public:
    // Opens the listening socket. SO_REUSEADDR (not SO_REUSEPORT, which hands
    // each datagram to ONE socket of the group) so every node on a host hears
    // every broadcast. On failure fd() is -1 and error() says why.
    explicit Beacon(uint16_t udp_port);
    ~Beacon();
    Beacon(const Beacon &) = delete;
    Beacon &operator=(const Beacon &) = delete;

    int fd() const { return fd_; }
    const std::string &error() const { return error_; }
    void send(const BeaconInfo &info);
    // Non-blocking; nullopt when nothing (valid) is waiting.
    std::optional<BeaconInfo> receive();

private:
    int fd_ = -1;
    uint16_t port_;
    std::string error_;
};

} // namespace skulk::cluster
