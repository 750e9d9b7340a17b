// IpcServer on a real ROUTER (inproc) with a DEALER as the client: the
// loading thread's answers, the hand-over to the serving thread, a gone
// client, and stop() waking a waiting take().
#include "runner/ipc_server.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

using namespace skulk::runner;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::string fresh_endpoint() {
    static std::atomic<int> n{0};
    return "inproc://ipc-server-test-" + std::to_string(n++);
}

json next_event(zmq::socket_t &dealer) {
    zmq::pollitem_t it{dealer.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&it, 1, 5000ms) <= 0) return {};
    zmq::message_t m;
    (void)dealer.recv(m);
    return json::parse(m.to_string_view());
}

void say(zmq::socket_t &dealer, const std::string &frame) { dealer.send(zmq::buffer(frame), zmq::send_flags::none); }

const std::string kGenerate = R"({"v":1,"op":"generate","command_id":"cmd-1","request":{"kind":"completion","prompt":"hi"}})";

// take() until a command arrives (a frame may still be on its way).
std::vector<Command> take_some(IpcServer &server) {
    std::vector<Command> out;
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (out.empty() && std::chrono::steady_clock::now() < deadline) EXPECT_TRUE(server.take(out, 100ms));
    return out;
}

// A server on a fresh endpoint; client() connects a DEALER to it.
class IpcServerTest : public ::testing::Test {
protected:
    zmq::socket_t client() {
        zmq::socket_t dealer(ctx, zmq::socket_type::dealer);
        dealer.set(zmq::sockopt::linger, 0);
        dealer.connect(endpoint);
        return dealer;
    }
    zmq::context_t ctx; // before the server: it is closed after it
    const std::string endpoint = fresh_endpoint();
    IpcServer server{ctx, endpoint};
};

} // namespace

TEST_F(IpcServerTest, LoadingAnswersPingsNotReadyAndRefusesGenerates) {
    server.start_loading();
    zmq::socket_t dealer = client();

    say(dealer, R"({"v":1,"op":"ping"})");
    json e = next_event(dealer);
    EXPECT_EQ(e.value("type", ""), "pong");
    EXPECT_EQ(e.value("ready", true), false);

    say(dealer, kGenerate);
    e = next_event(dealer);
    EXPECT_EQ(e.value("type", ""), "error");
    EXPECT_EQ(e.value("status", 0), 503);
    EXPECT_EQ(e.value("command_id", ""), "cmd-1");
}

TEST_F(IpcServerTest, AfterServeCommandsReachTakeAndEventsReachTheClient) {
    server.start_loading();
    server.serve();
    zmq::socket_t dealer = client();

    say(dealer, R"({"v":1,"op":"ping"})"); // answered inside take(), not handed on
    say(dealer, kGenerate);
    std::vector<Command> got = take_some(server);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].op, Command::Op::generate);
    EXPECT_EQ(got[0].command_id, "cmd-1");
    EXPECT_EQ(got[0].request.prompt, "hi");
    json e = next_event(dealer);
    EXPECT_EQ(e.value("type", ""), "pong");
    EXPECT_EQ(e.value("ready", false), true);

    server.send(got[0].client, R"({"v":1,"type":"delta","command_id":"cmd-1","text":"x"})");
    e = next_event(dealer);
    EXPECT_EQ(e.value("type", ""), "delta");
    EXPECT_EQ(e.value("text", ""), "x");
}

TEST_F(IpcServerTest, ASendToAGoneClientBecomesClientGone) {
    server.serve();
    std::string gone;
    {
        zmq::socket_t dealer = client();
        say(dealer, kGenerate);
        std::vector<Command> got = take_some(server);
        ASSERT_EQ(got.size(), 1u);
        gone = got[0].client;
    }
    // The ROUTER learns of the disconnect asynchronously: send until it refuses.
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

TEST_F(IpcServerTest, StopWakesAWaitingTakeAtOnce) {
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
