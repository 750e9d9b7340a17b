// IpcServer on both of its transports, with real clients: a ROUTER (inproc)
// with a DEALER, and a unix:// socket with a framed stream. The loading
// thread's answers, the hand-over to the serving thread, a gone client,
// stop() waking a waiting take(), and a unix:// runner out of file descriptors.
#include "runner/ipc_server.hpp"
#include "runner/unix_clients.hpp"

#include "common/unix_frames.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <future>
#include <thread>

using namespace skulk::runner;
namespace frames = skulk::unix_frames;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::string fresh_endpoint(const std::string &transport) {
    static std::atomic<int> n{0};
    const std::string name = "ipc-server-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++);
    if (transport == "unix") return "unix://" + (std::filesystem::temp_directory_path() / (name + ".sock")).string();
    return "inproc://" + name;
}

// Connects `fd` to the unix socket at `path`: only a memcpy and connect(),
// so a forked child may call it, and the socket can be made beforehand.
int connect_unix(int fd, const std::string &path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    return ::connect(fd, reinterpret_cast<const sockaddr *>(&addr), sizeof addr);
}

// A client of either transport: says frames, hears events.
class Client {
public:
    Client(zmq::context_t &ctx, const std::string &endpoint) {
        if (const auto path = frames::path_of(endpoint); !path.empty()) {
            fd_ = frames::connect_to(std::string(path));
            EXPECT_GE(fd_, 0) << endpoint;
            return;
        }
        dealer_ = zmq::socket_t(ctx, zmq::socket_type::dealer);
        dealer_.set(zmq::sockopt::linger, 0);
        dealer_.connect(endpoint);
    }
    ~Client() {
        if (fd_ >= 0) ::close(fd_);
    }
    void say(const std::string &frame) {
        if (fd_ < 0) {
            dealer_.send(zmq::buffer(frame), zmq::send_flags::none);
            return;
        }
        std::string out; // waits while the server does not read: see the big request below
        frames::append_frame(out, frame);
        while (frames::write_some(fd_, out) && !out.empty()) {
            pollfd p{fd_, POLLOUT, 0};
            ASSERT_EQ(::poll(&p, 1, 5000), 1);
        }
        ASSERT_TRUE(out.empty());
    }
    json next_event() {
        if (fd_ < 0) {
            zmq::pollitem_t it{dealer_.handle(), 0, ZMQ_POLLIN, 0};
            if (zmq::poll(&it, 1, 5000ms) <= 0) return {};
            zmq::message_t m;
            (void)dealer_.recv(m);
            return json::parse(m.to_string_view());
        }
        std::string_view f;
        while (!in_.next(f)) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 5000) <= 0 || in_.fill(fd_) == frames::FrameReader::Fill::closed) return {};
        }
        return json::parse(f);
    }

private:
    zmq::socket_t dealer_;
    int fd_ = -1;
    frames::FrameReader in_;
};

const std::string kGenerate = R"({"v":1,"op":"generate","command_id":"cmd-1","request":{"kind":"completion","prompt":"hi"}})";

// take() until a command arrives (a frame may still be on its way).
std::vector<Command> take_some(IpcServer &server) {
    std::vector<Command> out;
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (out.empty() && std::chrono::steady_clock::now() < deadline) EXPECT_TRUE(server.take(out, 100ms));
    return out;
}

// A server on a fresh endpoint of the transport under test.
class IpcServerTest : public ::testing::TestWithParam<std::string> {
protected:
    std::unique_ptr<Client> client() { return std::make_unique<Client>(ctx, endpoint); }
    zmq::context_t ctx; // before the server: it is closed after it
    const std::string endpoint = fresh_endpoint(GetParam());
    IpcServer server{ctx, endpoint};
};

} // namespace

TEST_P(IpcServerTest, LoadingAnswersPingsNotReadyAndRefusesGenerates) {
    server.start_loading();
    auto peer = client();

    peer->say(R"({"v":1,"op":"ping"})");
    json e = peer->next_event();
    EXPECT_EQ(e.value("type", ""), "pong");
    EXPECT_EQ(e.value("ready", true), false);

    peer->say(kGenerate);
    e = peer->next_event();
    EXPECT_EQ(e.value("type", ""), "error");
    EXPECT_EQ(e.value("status", 0), 503);
    EXPECT_EQ(e.value("command_id", ""), "cmd-1");
}

TEST_P(IpcServerTest, AfterServeCommandsReachTakeAndEventsReachTheClient) {
    server.start_loading();
    server.serve();
    auto peer = client();

    peer->say(R"({"v":1,"op":"ping"})"); // answered inside take(), not handed on
    peer->say(kGenerate);
    std::vector<Command> got = take_some(server);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].op, Command::Op::generate);
    EXPECT_EQ(got[0].command_id, "cmd-1");
    EXPECT_EQ(got[0].request.prompt, "hi");
    json e = peer->next_event();
    EXPECT_EQ(e.value("type", ""), "pong");
    EXPECT_EQ(e.value("ready", false), true);

    server.send(got[0].client, R"({"v":1,"type":"delta","command_id":"cmd-1","text":"x"})");
    e = peer->next_event();
    EXPECT_EQ(e.value("type", ""), "delta");
    EXPECT_EQ(e.value("text", ""), "x");
}

TEST_P(IpcServerTest, ASendToAGoneClientBecomesClientGone) {
    server.serve();
    std::string gone;
    {
        auto peer = client();
        peer->say(kGenerate);
        std::vector<Command> got = take_some(server);
        ASSERT_EQ(got.size(), 1u);
        gone = got[0].client;
    }
    // The server learns of the disconnect asynchronously: send until it refuses.
    std::vector<Command> out;
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (out.empty() && std::chrono::steady_clock::now() < deadline) {
        server.send(gone, R"({"v":1,"type":"keepalive","command_id":"cmd-1"})");
        ASSERT_TRUE(server.take(out, 10ms));
    }
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].op, Command::Op::client_gone);
    EXPECT_EQ(out[0].client, gone);
}

// A client that does not read does not hold the scheduler up: send() returns
// at once, and what the socket could not take goes out, in order, from later
// take()s. A request far larger than a socket buffer arrives whole.
TEST_P(IpcServerTest, OutputAClientDoesNotReadYetWaitsInOrderAndBigRequestsArrive) {
    server.serve();
    auto peer = client();
    const std::string big_prompt(3 << 20, 'p');
    auto saying = std::async(std::launch::async, [&] {
        peer->say(json{{"v", 1}, {"op", "generate"}, {"command_id", "cmd-big"},
                       {"request", {{"kind", "completion"}, {"prompt", big_prompt}}}}.dump());
    });
    std::vector<Command> got = take_some(server); // reads while the client is still writing
    saying.get();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].request.prompt.size(), big_prompt.size());

    constexpr int kEvents = 3000; // ~3 MB: more than the socket holds
    const std::string filler(1000, 'f');
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kEvents; ++i)
        server.send(got[0].client, json{{"v", 1}, {"type", "delta"}, {"command_id", "cmd-big"}, {"n", i}, {"text", filler}}.dump());
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s) << "send() waited for the client";

    auto reading = std::async(std::launch::async, [&] {
        for (int i = 0; i < kEvents; ++i)
            if (peer->next_event().value("n", -1) != i) return i;
        return kEvents;
    });
    std::vector<Command> out;
    while (reading.wait_for(1ms) != std::future_status::ready) ASSERT_TRUE(server.take(out, 10ms));
    EXPECT_EQ(reading.get(), kEvents) << "the first event missing or out of order";
}

TEST_P(IpcServerTest, StopWakesAWaitingTakeAtOnce) {
    server.start_loading();
    server.serve(); // its wake-up of the loading thread must not end the next wait
    std::vector<Command> out;
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_TRUE(server.take(out, 50ms));
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 50ms);

    auto waiting = std::async(std::launch::async, [&] {
        std::vector<Command> o;
        return server.take(o, std::chrono::hours(1));
    });
    ASSERT_EQ(waiting.wait_for(100ms), std::future_status::timeout); // it waits...
    server.stop();
    ASSERT_EQ(waiting.wait_for(5s), std::future_status::ready); // ...until stop()
    EXPECT_FALSE(waiting.get());
}

INSTANTIATE_TEST_SUITE_P(Transports, IpcServerTest, ::testing::Values("zmq", "unix"),
                         [](const auto &info) { return info.param; });

// The unix:// socket trusts its file mode (0600) and, behind it, the peer's
// user: a process of another user that gets at the socket anyway (here the
// test opens the file to everyone) is turned away without an answer.
TEST(IpcServerUnix, AClientOfAnotherUserIsTurnedAway) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a client as another user";
    zmq::context_t ctx;
    const std::string endpoint = fresh_endpoint("unix");
    IpcServer server{ctx, endpoint};
    server.serve();
    const std::string path(frames::path_of(endpoint));
    ASSERT_EQ(::chmod(path.c_str(), 0666), 0);
    std::string ping;
    frames::append_frame(ping, R"({"v":1,"op":"ping"})");

    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) { // only system calls from here: exit 0 = turned away, 1 = answered, 2+ = no verdict
        if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(3);
        const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect_unix(fd, path) != 0) ::_exit(4);
        (void)!::send(fd, ping.data(), ping.size(), MSG_NOSIGNAL); // the runner may have hung up already
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 5000) != 1) ::_exit(2);
        char byte;
        ::_exit(::read(fd, &byte, 1) == 1 ? 1 : 0); // EOF, or ECONNRESET: the ping was never read
    }
    int status = 0;
    std::vector<Command> out;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (::waitpid(child, &status, WNOHANG) == 0 && std::chrono::steady_clock::now() < deadline) {
        ASSERT_TRUE(server.take(out, 10ms));
        EXPECT_TRUE(out.empty());
    }
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "0: turned away; 1: answered; 2: no answer nor close; 3: setuid; 4: connect";
}

// A restarted runner binds the same path while the old process may still be
// on its way out: the old one's exit must not remove the new one's socket.
TEST(IpcServerUnix, ARunnerThatEndsLeavesItsSuccessorsSocketAlone) {
    zmq::context_t ctx;
    const std::string endpoint = fresh_endpoint("unix");
    const std::string path(frames::path_of(endpoint));
    auto old_runner = std::make_unique<IpcServer>(ctx, endpoint);
    IpcServer new_runner{ctx, endpoint};
    new_runner.serve();
    old_runner.reset();
    ASSERT_TRUE(std::filesystem::exists(path));
    Client peer(ctx, endpoint);
    peer.say(kGenerate);
    EXPECT_EQ(take_some(new_runner).size(), 1u);
}

namespace {

// Lowers this process's descriptor limit to `limit` until it ends.
class DescriptorLimit {
public:
    explicit DescriptorLimit(rlim_t limit) {
        ok_ = ::getrlimit(RLIMIT_NOFILE, &old_) == 0;
        rlimit low = old_;
        low.rlim_cur = limit;
        ok_ = ok_ && ::setrlimit(RLIMIT_NOFILE, &low) == 0;
    }
    ~DescriptorLimit() {
        if (ok_) ::setrlimit(RLIMIT_NOFILE, &old_);
    }
    bool ok() const { return ok_; }

private:
    rlimit old_{};
    bool ok_ = false;
};

} // namespace

// A runner out of file descriptors cannot accept a new client. Left in the
// backlog, that client would wait for nothing and keep the listener
// readable, so the scheduler's poll would return at once for ever (a busy
// loop). Instead the client's connection is closed at once, the listener
// goes quiet, and once descriptors are free again new clients are served.
TEST(UnixClients, OutOfDescriptorsANewClientIsClosedAtOnceAndThenServedAgain) {
    const std::string path(frames::path_of(fresh_endpoint("unix")));
    UnixClients server(path);
    std::vector<UnixClients::Frame> frames_in;
    std::vector<std::string> gone;
    const int late = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0); // made while descriptors remain
    ASSERT_GE(late, 0);
    const int lowest_free = ::fcntl(late, F_DUPFD_CLOEXEC, 0);
    ASSERT_GE(lowest_free, 0);
    ::close(lowest_free);
    {
        DescriptorLimit limit(static_cast<rlim_t>(lowest_free)); // no descriptor below it is free
        ASSERT_TRUE(limit.ok());
        ASSERT_LT(::fcntl(late, F_DUPFD_CLOEXEC, 0), 0);
        ASSERT_EQ(errno, EMFILE);
        ASSERT_EQ(connect_unix(late, path), 0); // into the backlog: the kernel needs no descriptor for that
        server.service(frames_in, gone);
        std::vector<zmq::pollitem_t> items;
        server.add_poll_items(items);
        ASSERT_GE(zmq::poll(items, 0ms), 0);
        EXPECT_EQ(items[0].revents & ZMQ_POLLIN, 0) << "the listener still has a client waiting: its poll would spin";
    }
    pollfd p{late, POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 2000), 1) << "the client was left waiting";
    char byte;
    EXPECT_EQ(::read(late, &byte, 1), 0) << "the client should see the end";
    ::close(late);

    const int next = frames::connect_to(path);
    ASSERT_GE(next, 0);
    std::string out;
    frames::append_frame(out, R"({"v":1,"op":"ping"})");
    ASSERT_TRUE(frames::write_some(next, out));
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (frames_in.empty() && std::chrono::steady_clock::now() < deadline) {
        std::vector<zmq::pollitem_t> items;
        server.add_poll_items(items);
        zmq::poll(items, 50ms);
        server.service(frames_in, gone);
    }
    ASSERT_EQ(frames_in.size(), 1u);
    EXPECT_EQ(frames_in[0].text, R"({"v":1,"op":"ping"})");
    ::close(next);
}
