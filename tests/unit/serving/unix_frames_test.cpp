// The unix:// transport's framing on real sockets: frames split across
// reads, many frames in one read, frames larger than the reader's buffer, a
// peer that sends an impossible length, and the listening socket's file.
#include "common/unix_frames.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

using namespace skulk::unix_frames;
using Fill = FrameReader::Fill;

namespace {

// A connected pair of non-blocking unix stream sockets.
struct SocketPair {
    int a = -1, b = -1;
    SocketPair() {
        int fds[2];
        EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
        a = fds[0];
        b = fds[1];
    }
    ~SocketPair() {
        if (a >= 0) ::close(a);
        if (b >= 0) ::close(b);
    }
};

// Reads from `fd` until `reader` yields `count` frames or the peer closes.
std::vector<std::string> read_frames(int fd, FrameReader &reader, size_t count, Fill *last = nullptr) {
    std::vector<std::string> got;
    std::string_view f;
    while (got.size() < count) {
        while (got.size() < count && reader.next(f)) got.emplace_back(f);
        if (got.size() == count) break;
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 5000) <= 0) break;
        const Fill r = reader.fill(fd);
        if (last) *last = r;
        if (r == Fill::closed) break;
    }
    return got;
}

std::string temp_socket_path(const std::string &name) {
    return (std::filesystem::temp_directory_path() / ("skulk-uf-" + std::to_string(::getpid()) + "-" + name)).string();
}

} // namespace

TEST(UnixFrames, PathOfTakesOnlyUnixEndpoints) {
    EXPECT_EQ(path_of("unix:///run/x.sock"), "/run/x.sock");
    EXPECT_EQ(path_of("ipc:///run/x.sock"), "");
    EXPECT_EQ(path_of("tcp://127.0.0.1:5"), "");
    EXPECT_EQ(path_of("unix:/"), "");
}

TEST(UnixFrames, AFrameSentOneByteAtATimeArrivesWhole) {
    SocketPair s;
    std::string wire;
    append_frame(wire, "hello, frames");
    ASSERT_EQ(wire.size(), 4u + 13u);
    FrameReader reader;
    std::string_view f;
    for (size_t i = 0; i < wire.size(); ++i) {
        EXPECT_FALSE(reader.next(f)) << "a frame before its last byte, at byte " << i;
        ASSERT_EQ(::write(s.a, wire.data() + i, 1), 1);
        ASSERT_EQ(reader.fill(s.b), Fill::data);
    }
    ASSERT_TRUE(reader.next(f));
    EXPECT_EQ(f, "hello, frames");
    EXPECT_FALSE(reader.next(f));
    EXPECT_EQ(reader.fill(s.b), Fill::nothing);
}

TEST(UnixFrames, ManyFramesInOneWriteComeOutInOrderIncludingEmptyOnes) {
    SocketPair s;
    std::string wire;
    std::vector<std::string> sent;
    for (int i = 0; i < 200; ++i) sent.push_back(i % 50 == 0 ? "" : "frame-" + std::to_string(i));
    for (const auto &x : sent) append_frame(wire, x);
    ASSERT_TRUE(write_some(s.a, wire));
    EXPECT_TRUE(wire.empty());
    FrameReader reader;
    EXPECT_EQ(read_frames(s.b, reader, sent.size()), sent);
}

TEST(UnixFrames, FramesLargerThanTheBufferAndTheSocketGetThroughWithWriteSome) {
    SocketPair s;
    std::vector<std::string> sent = {std::string(3 << 20, 'x'), "small", std::string(200000, 'y')};
    for (size_t i = 0; i < sent[0].size(); i += 4099) sent[0][i] = char('a' + i % 26); // not uniform
    std::string pending;
    for (const auto &x : sent) append_frame(pending, x);
    FrameReader reader;
    std::vector<std::string> got;
    std::string_view f;
    // The socket takes a few hundred KiB at a time: write and read in turns.
    for (int rounds = 0; rounds < 10000 && got.size() < sent.size(); ++rounds) {
        ASSERT_TRUE(write_some(s.a, pending));
        ASSERT_NE(reader.fill(s.b), Fill::closed);
        while (reader.next(f)) got.emplace_back(f);
    }
    EXPECT_TRUE(pending.empty());
    ASSERT_EQ(got.size(), sent.size());
    for (size_t i = 0; i < sent.size(); ++i) EXPECT_TRUE(got[i] == sent[i]) << "frame " << i << " differs";
}

TEST(UnixFrames, AnImpossibleLengthOrAClosedPeerEndsTheReader) {
    {
        SocketPair s;
        const unsigned char huge[4] = {0xff, 0xff, 0xff, 0xff};
        ASSERT_EQ(::write(s.a, huge, 4), 4);
        FrameReader reader;
        ASSERT_EQ(reader.fill(s.b), Fill::data);
        std::string_view f;
        EXPECT_FALSE(reader.next(f));
        EXPECT_EQ(reader.fill(s.b), Fill::closed);
    }
    {
        SocketPair s;
        std::string wire;
        append_frame(wire, "last words");
        ASSERT_TRUE(write_some(s.a, wire));
        ::close(s.a);
        s.a = -1;
        FrameReader reader;
        Fill last = Fill::data;
        EXPECT_EQ(read_frames(s.b, reader, 2, &last), std::vector<std::string>{"last words"}); // then EOF
        EXPECT_EQ(last, Fill::closed);
        std::string more = "x";
        EXPECT_FALSE(write_some(s.b, more)) << "writing to a closed peer fails instead of raising SIGPIPE";
    }
}

TEST(UnixFrames, ListenReplacesAStaleFileAndAdmitsOnlyItsUser) {
    const std::string path = temp_socket_path("listen");
    { std::FILE *stale = std::fopen(path.c_str(), "w"); ASSERT_NE(stale, nullptr); std::fclose(stale); }
    const int listener = listen_at(path);
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0600u);

    const int client = connect_to(path);
    ASSERT_GE(client, 0);
    EXPECT_TRUE(::fcntl(client, F_GETFL) & O_NONBLOCK);
    pollfd p{listener, POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 5000), 1);
    const int server = ::accept(listener, nullptr, nullptr);
    ASSERT_GE(server, 0);
    EXPECT_TRUE(peer_is_same_user(server));

    ::close(server);
    ::close(client);
    ::close(listener);
    ::unlink(path.c_str());
    EXPECT_LT(connect_to(path), 0) << "no listener, no connection";
    EXPECT_THROW(listen_at("/nonexistent-dir-skulk/x.sock"), std::runtime_error);
    EXPECT_THROW(listen_at(std::string(200, 'p')), std::runtime_error);
}
