#include "api/runner_client.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <future>
#include <set>
#include <thread>

using namespace skulk::api;

TEST(RunnerEventHead, ReadsTypeCommandIdAndVersionOnly) {
    RunnerEventHead h;
    ASSERT_TRUE(read_event_head(R"({"v":1,"type":"delta","command_id":"cmd-1","text":"a \"type\":\"x\""})", h));
    EXPECT_EQ(h.type, "delta");
    EXPECT_EQ(h.command_id, "cmd-1");
    EXPECT_EQ(h.version, 1);
    // Nested fields with the same names do not count.
    ASSERT_TRUE(read_event_head(R"({"usage":{"type":"inner","command_id":"no"},"type":"done","v":2})", h));
    EXPECT_EQ(h.type, "done");
    EXPECT_EQ(h.command_id, "");
    EXPECT_EQ(h.version, 2);
    // Fields are cleared between reads.
    ASSERT_TRUE(read_event_head(R"({"type":"keepalive"})", h));
    EXPECT_EQ(h.version, -1);
}

TEST(RunnerEventHead, RejectsNonObjectsAndMissingType) {
    RunnerEventHead h;
    EXPECT_FALSE(read_event_head("", h));
    EXPECT_FALSE(read_event_head("[1,2]", h));
    EXPECT_FALSE(read_event_head(R"({"type":)", h));
    EXPECT_FALSE(read_event_head(R"({"v":1})", h));
    EXPECT_FALSE(read_event_head(R"({"type":7})", h));
}

TEST(RunnerMessages, AreValidJsonWithVersion) {
    const auto g = nlohmann::json::parse(generate_message("cmd-\"x", R"({"kind":"completion","prompt":"hi"})"));
    EXPECT_EQ(g["v"], 1);
    EXPECT_EQ(g["op"], "generate");
    EXPECT_EQ(g["command_id"], "cmd-\"x");
    EXPECT_EQ(g["request"]["prompt"], "hi");
    const auto c = nlohmann::json::parse(cancel_message("cmd-2"));
    EXPECT_EQ(c["op"], "cancel");
    EXPECT_EQ(c["command_id"], "cmd-2");
    EXPECT_EQ(nlohmann::json::parse(ping_message())["op"], "ping");
}

TEST(RequestTable, CancelReachesTheFlagOnlyWhileInFlight) {
    RequestTable t;
    auto flag = t.add("cmd-a");
    EXPECT_EQ(t.size(), 1u);
    EXPECT_FALSE(t.cancel("cmd-b"));
    EXPECT_FALSE(flag->load());
    EXPECT_TRUE(t.cancel("cmd-a"));
    EXPECT_TRUE(flag->load());
    t.remove("cmd-a");
    EXPECT_FALSE(t.cancel("cmd-a"));
    EXPECT_EQ(t.size(), 0u);
}

TEST(CommandIds, AreDistinct) {
    std::set<std::string> ids;
    for (int i = 0; i < 1000; ++i) ids.insert(new_command_id());
    EXPECT_EQ(ids.size(), 1000u);
    EXPECT_EQ(ids.begin()->rfind("cmd-", 0), 0u);
}

// A real ROUTER on ipc answering like a runner: the connection sends a
// frame, the ROUTER sees the DEALER identity, and the reply comes back.
TEST(RunnerConnection, TalksToARouterOverIpc) {
    const auto dir = std::filesystem::temp_directory_path() / ("skulk-rc-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string endpoint = "ipc://" + (dir / "r0.sock").string();
    zmq::context_t ctx{1};
    zmq::socket_t router(ctx, zmq::socket_type::router);
    router.set(zmq::sockopt::linger, 0);
    router.bind(endpoint);
    std::thread runner([&] {
        zmq::message_t id, body;
        ASSERT_TRUE(router.recv(id));
        ASSERT_TRUE(router.recv(body));
        const auto req = nlohmann::json::parse(body.to_string());
        const std::string reply = nlohmann::json{{"v", 1}, {"type", "start"}, {"command_id", req["command_id"]}}.dump();
        router.send(id, zmq::send_flags::sndmore);
        router.send(zmq::buffer(reply));
    });
    RunnerConnection conn(ctx, endpoint);
    ASSERT_TRUE(conn.send(generate_message("cmd-9", "{}")));
    std::string frame;
    ASSERT_TRUE(conn.receive(frame, std::chrono::seconds(10)));
    runner.join();
    RunnerEventHead h;
    ASSERT_TRUE(read_event_head(frame, h));
    EXPECT_EQ(h.type, "start");
    EXPECT_EQ(h.command_id, "cmd-9");
    // Nothing more: receive times out instead of blocking.
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_FALSE(conn.receive(frame, std::chrono::milliseconds(50)));
    EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(40));
    std::filesystem::remove_all(dir);
}

// The same over a unix:// endpoint, with the runner's end written out by
// hand: a request larger than the socket holds gets through while the
// connection waits in receive(), the reply arrives, and when the runner
// closes its end the connection says closed() at once instead of waiting
// out the timeout.
TEST(RunnerConnection, TalksToAUnixRunnerAndNoticesItClosing) {
    const std::string path = (std::filesystem::temp_directory_path() / ("skulk-rcu-" + std::to_string(::getpid()))).string();
    const int listener = skulk::unix_frames::listen_at(path);
    zmq::context_t ctx{1};
    RunnerConnection conn(ctx, "unix://" + path);
    ASSERT_FALSE(conn.closed());
    const std::string big_request = nlohmann::json{{"prompt", std::string(3 << 20, 'p')}}.dump();
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(conn.send(generate_message("cmd-7", big_request)));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1)) << "send() waited for the runner to read";

    struct Heard { bool got = false, closed_after = false; std::string frame; std::chrono::steady_clock::duration close_wait{}; };
    auto listening = std::async(std::launch::async, [&] {
        Heard h;
        h.got = conn.receive(h.frame, std::chrono::seconds(10)); // also writes the rest of the request
        const auto t1 = std::chrono::steady_clock::now();
        std::string more;
        h.closed_after = !conn.receive(more, std::chrono::seconds(10)) && conn.closed();
        h.close_wait = std::chrono::steady_clock::now() - t1;
        return h;
    });

    pollfd p{listener, POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 5000), 1);
    const int runner = ::accept(listener, nullptr, nullptr);
    ASSERT_GE(runner, 0);
    ::fcntl(runner, F_SETFL, O_NONBLOCK);
    skulk::unix_frames::FrameReader in;
    std::string_view request;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!in.next(request) && std::chrono::steady_clock::now() < deadline) {
        pollfd r{runner, POLLIN, 0};
        if (::poll(&r, 1, 100) == 1) {
            ASSERT_NE(in.fill(runner), skulk::unix_frames::FrameReader::Fill::closed);
        }
    }
    const auto req = nlohmann::json::parse(request);
    EXPECT_EQ(req["command_id"], "cmd-7");
    EXPECT_EQ(req["request"]["prompt"].get<std::string>().size(), size_t(3 << 20));
    std::string out;
    skulk::unix_frames::append_frame(out, R"({"v":1,"type":"start","command_id":"cmd-7"})");
    ASSERT_TRUE(skulk::unix_frames::write_some(runner, out));
    ::close(runner);

    const Heard h = listening.get();
    ASSERT_TRUE(h.got) << "a frame sent before the close still arrives";
    RunnerEventHead head;
    ASSERT_TRUE(read_event_head(h.frame, head));
    EXPECT_EQ(head.type, "start");
    EXPECT_TRUE(h.closed_after);
    EXPECT_LT(h.close_wait, std::chrono::seconds(5));
    EXPECT_FALSE(conn.send(cancel_message("cmd-7")));

    ::close(listener);
    ::unlink(path.c_str());
    RunnerConnection nobody(ctx, "unix://" + path);
    EXPECT_TRUE(nobody.closed());
    EXPECT_FALSE(nobody.send(ping_message())) << "no runner at the path: the send fails at once";
}
