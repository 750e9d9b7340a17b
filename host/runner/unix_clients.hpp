// The runner's unix://PATH endpoint: the local API threads' connections
// (host/common/unix_frames.hpp), one per request, served by whichever thread
// owns the IpcServer at the time. Nothing here blocks: output a client does
// not take at once waits in that client's buffer, as a ZeroMQ send queue would.
#pragma once

#include "common/unix_frames.hpp"

#include <zmq.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace skulk::runner {

class UnixClients {
public:
    // Listens at `path` (mode 0600; peers of another user are turned away).
    // Throws std::runtime_error naming the path.
    explicit UnixClients(const std::string &path);
    ~UnixClients();
    UnixClients(const UnixClients &) = delete;
    UnixClients &operator=(const UnixClients &) = delete;

    // Whether `client` names one of these connections (a ZeroMQ identity never does).
    static bool owns(const std::string &client);

    // Adds the listening socket and every connection to a poll set.
    void add_poll_items(std::vector<zmq::pollitem_t> &items) const;
    struct Frame {
        std::string client, text;
    };
    // Accepts, flushes waiting output, and appends every whole frame that
    // came to `frames`. Connections that closed are added to `gone`. Called
    // between scheduler steps: with nothing arriving it allocates nothing.
    void service(std::vector<Frame> &frames, std::vector<std::string> &gone);
    // One frame to `client`. A connection found closed here is reported as
    // gone by the next service(), with the ones it finds itself.
    void send(const std::string &client, std::string_view frame);

private:
    struct Connection {
        int fd = -1;
        unix_frames::FrameReader in;
        std::string out; // framed output the socket has not taken yet
        bool failed = false;
    };
    void accept_all();
    // accept() failed for want of descriptors: close one pending connection
    // with the help of the spare. False when there was none to take.
    bool turn_away_for_want_of_descriptors();
    void close(std::map<std::string, Connection>::iterator it, std::vector<std::string> &gone);

    const std::string path_;
    int listen_fd_ = -1;
    int spare_fd_ = -1; // /dev/null, held so that a connection can still be taken (and closed) when out of descriptors
    uint64_t file_inode_ = 0; // of the socket file at path_, to remove only ours
    uint64_t serial_ = 0;
    std::map<std::string, Connection> connections_; // by client id
    std::vector<zmq::pollitem_t> poll_items_; // service()'s, reused
    std::string scratch_; // a frame being written when nothing waits before it
};

} // namespace skulk::runner
