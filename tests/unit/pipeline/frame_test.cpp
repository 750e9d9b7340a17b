// Frames go through a real DEALER -> ROUTER pair (inproc), as between ranks.
#include "common/curve.hpp"
#include "pipeline/frame.hpp"

#include <gtest/gtest.h>

#include <cstring>

using namespace skulk::pipeline;
using namespace std::chrono_literals;

namespace {

struct Pair {
    zmq::context_t ctx{1};
    zmq::socket_t router{ctx, zmq::socket_type::router};
    zmq::socket_t dealer{ctx, zmq::socket_type::dealer};
    Pair() {
        static int n = 0;
        const std::string ep = "inproc://frame-test-" + std::to_string(n++);
        router.bind(ep);
        dealer.set(zmq::sockopt::routing_id, "rank-1");
        dealer.connect(ep);
    }
    // What the hub receives, validated (throws FrameError).
    Message at_hub(std::string &route) {
        Message m;
        EXPECT_TRUE(receive(router, true, route, m, 2000ms));
        validate(m);
        return m;
    }
    // Raw frames from the dealer (to build broken messages).
    void raw(std::initializer_list<std::string> parts) {
        size_t i = 0;
        for (const auto &p : parts)
            dealer.send(zmq::buffer(p), ++i < parts.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
};

std::string header_bytes(Header h) { return std::string(reinterpret_cast<const char *>(&h), sizeof h); }

} // namespace

TEST(PipelineFrame, HelloStepResultRoundTrip) {
    Pair p;
    std::string route;
    Hello hello{2, 3, 3, 64, 512, 0};
    ASSERT_TRUE(send_hello(p.dealer, 1, hello));
    Message m = p.at_hub(route);
    EXPECT_EQ(route, "rank-1");
    EXPECT_EQ(static_cast<Kind>(m.header.kind), Kind::hello);
    EXPECT_EQ(m.header.rank, 1u);
    EXPECT_EQ(hello_of(m).last_layer, 3u);
    EXPECT_EQ(hello_of(m).n_vocab, 512u);

    // hub -> rank 1: a step of 3 tokens, one drop, 2 floats per row.
    const int32_t pos[] = {0, 1, 7};
    const uint32_t seq[] = {0, 0, 5};
    const uint8_t want[] = {0, 1, 1};
    const Drop drops[] = {{4, 0, -1}};
    const float hidden[] = {1, 2, 3, 4, 5, 6};
    ASSERT_TRUE(send_step(p.router, route, 1, 42, 2, pos, seq, want, drops, hidden, 2));
    Message s;
    std::string none;
    ASSERT_TRUE(receive(p.dealer, false, none, s, 2000ms));
    validate(s);
    EXPECT_EQ(s.header.step, 42u);
    EXPECT_EQ(s.header.n_out, 2u);
    const StepView v = step_view(s);
    ASSERT_EQ(v.pos.size(), 3u);
    EXPECT_EQ(v.pos[2], 7);
    EXPECT_EQ(v.seq[2], 5u);
    EXPECT_EQ(v.want[0], 0);
    ASSERT_EQ(v.drops.size(), 1u);
    EXPECT_EQ(v.drops[0].seq, 4u);
    EXPECT_EQ(v.drops[0].p1, -1);
    ASSERT_EQ(v.hidden.size(), 6u);
    EXPECT_EQ(v.hidden[5], 6.0f);

    const float logits[] = {0.5f, -1, 2, 3};
    ASSERT_TRUE(send_result(p.dealer, 1, 42, 2, 2, logits));
    Message r = p.at_hub(route);
    EXPECT_EQ(static_cast<Kind>(r.header.kind), Kind::result);
    ASSERT_EQ(result_view(r).size(), 4u);
    EXPECT_EQ(result_view(r)[0], 0.5f);

    ASSERT_TRUE(send_error(p.dealer, 1, "step 42: out of memory"));
    EXPECT_EQ(error_text(p.at_hub(route)), "step 42: out of memory");
}

TEST(PipelineFrame, AnotherVersionIsRefusedByNumber) {
    Pair p;
    Header h;
    h.version = kVersion + 1;
    h.kind = static_cast<uint16_t>(Kind::bye);
    p.raw({header_bytes(h)});
    std::string route;
    try {
        p.at_hub(route);
        FAIL() << "a version-2 message was accepted";
    } catch (const FrameError &e) {
        EXPECT_NE(std::string(e.what()).find("version " + std::to_string(kVersion + 1)), std::string::npos) << e.what();
    }
}

TEST(PipelineFrame, BrokenMessagesAreRefused) {
    Pair p;
    std::string route;
    Header h;
    h.magic = 0x12345678;
    p.raw({header_bytes(h)});
    EXPECT_THROW(p.at_hub(route), FrameError);

    p.raw({"short"});
    EXPECT_THROW(p.at_hub(route), FrameError);

    Header step;
    step.kind = static_cast<uint16_t>(Kind::step);
    step.n_tokens = 2;
    step.width = 4;
    // 2 tokens but one position.
    p.raw({header_bytes(step), std::string(4, '\0'), std::string(8, '\0'), std::string(2, '\0'), "", std::string(32, '\0')});
    EXPECT_THROW(p.at_hub(route), FrameError);

    Header result;
    result.kind = static_cast<uint16_t>(Kind::result);
    result.width = 3;
    p.raw({header_bytes(result), std::string(8, '\0')}); // 2 floats: not whole rows of 3
    EXPECT_THROW(p.at_hub(route), FrameError);

    Header unknown;
    unknown.kind = 99;
    p.raw({header_bytes(unknown)});
    EXPECT_THROW(p.at_hub(route), FrameError);
}

// With a cluster secret the hub speaks CURVE only: a rank without the keys
// is never heard, one with them is.
TEST(PipelineFrame, AHubWithKeysHearsOnlyRanksWithKeys) {
    const auto keys = skulk::cluster::curve_keys_for("frame-test-secret");
    ASSERT_TRUE(keys.has_value());
    zmq::context_t ctx(1);
    zmq::socket_t hub(ctx, zmq::socket_type::router);
    skulk::cluster::secure_server(hub, keys);
    hub.bind("tcp://127.0.0.1:*");
    const std::string ep = hub.get(zmq::sockopt::last_endpoint);

    zmq::socket_t stranger(ctx, zmq::socket_type::dealer);
    stranger.set(zmq::sockopt::linger, 0);
    stranger.connect(ep);
    ASSERT_TRUE(send_hello(stranger, 1, Hello{}));
    std::string route;
    Message m;
    EXPECT_FALSE(receive(hub, true, route, m, 500ms)) << "a plaintext rank got through";

    zmq::socket_t member(ctx, zmq::socket_type::dealer);
    member.set(zmq::sockopt::linger, 0);
    skulk::cluster::secure_client(member, keys);
    member.connect(ep);
    ASSERT_TRUE(send_hello(member, 2, Hello{}));
    ASSERT_TRUE(receive(hub, true, route, m, 5000ms));
    validate(m);
    EXPECT_EQ(m.header.rank, 2u);
}
