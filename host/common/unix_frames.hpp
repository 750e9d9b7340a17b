// Messages over a Unix stream socket: each one a 4-byte little-endian length
// and then its bytes. This is the runner's local transport (unix://PATH
// endpoints, host/runner/README.md): the sending thread's write() wakes the
// reading thread directly, where ZeroMQ would pass every message through an
// I/O thread on each side, two more wake-ups per token.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace skulk::unix_frames {

// Larger frames are a broken peer, not a message: the reader gives up.
constexpr uint32_t kMaxFrameBytes = 256u << 20;

// The path of a unix://PATH endpoint, or "" when it is not one.
std::string_view path_of(std::string_view endpoint);

// A non-blocking, close-on-exec listening socket at `path`, mode 0600 (a
// stale file there is replaced). Throws std::runtime_error naming the path.
int listen_at(const std::string &path);
// A non-blocking, close-on-exec connection to `path`; -1 (errno set) on failure.
int connect_to(const std::string &path);
// Whether the peer of a connected socket runs as this process's user (or root).
bool peer_is_same_user(int fd);

// Appends one frame (length, then `payload`) to `out`.
void append_frame(std::string &out, std::string_view payload);

// Splits what a socket delivers into frames, in one buffer reused across
// reads: a frame costs no allocation once the buffer has grown to the
// largest frame seen.
class FrameReader {
public:
    enum class Fill { data, nothing, closed }; // closed: EOF, error, or an oversized frame
    // Reads what `fd` (non-blocking) has now.
    Fill fill(int fd);
    // The next whole frame, valid until the next fill() or next(); false when none is complete.
    bool next(std::string_view &frame);

private:
    std::vector<char> buf_ = std::vector<char>(64 * 1024);
    size_t begin_ = 0, end_ = 0; // unread bytes are [begin_, end_)
};

// Writes as much of `pending` as `fd` (non-blocking) takes now and erases
// what was written. False when the peer is gone.
bool write_some(int fd, std::string &pending);

} // namespace skulk::unix_frames
