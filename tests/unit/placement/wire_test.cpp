// The placement additions to the cluster wire: telemetry messages (GPU fields
// present only when reported) and PlaceInstance commands carrying shards.
#include "cluster/wire.hpp"

#include <gtest/gtest.h>

using namespace skulk;
using namespace skulk::cluster;

TEST(PlacementWire, TelemetryRoundTrip) {
    telemetry::Reading r;
    r.ram_total = 8000000000ull;
    r.ram_available = 5000000000ull;
    r.disk_total = 7;
    r.disk_available = 3;
    r.cpu_cores = 2;
    r.cpu_model = "AMD EPYC";
    r.backends = {{"cpu_blas-cpu", 10}, {"vulkan-gpu", 3}};
    const std::string plain = encode(Envelope{kWireVersion, "ns", "n1", TelemetryMsg{r}});
    EXPECT_EQ(plain.find("gpu_memory"), std::string::npos); // absent unless reported
    auto d = decode(plain);
    ASSERT_TRUE(d.ok) << d.error;
    EXPECT_EQ(std::get<TelemetryMsg>(d.env.body).reading, r);

    r.gpu_memory_total = 24000000000ull;
    r.gpu_memory_available = 20000000000ull;
    d = decode(encode(Envelope{kWireVersion, "ns", "n1", TelemetryMsg{r}}));
    ASSERT_TRUE(d.ok) << d.error;
    EXPECT_EQ(std::get<TelemetryMsg>(d.env.body).reading, r);
}

TEST(PlacementWire, PlaceInstanceWithShardsRoundTrip) {
    state::PlaceInstance p;
    p.model_id = "m";
    p.shards = {{"a", 0, 2, 0, 7, "cpu_blas-cpu"}, {"b", 1, 2, 8, 11, "cpu_blas-cpu"}};
    p.context_token_limit = 512;
    const auto d = decode(encode(Envelope{kWireVersion, "ns", "n1", CommandRequest{state::Command{"c1", "n1", p}}}));
    ASSERT_TRUE(d.ok) << d.error;
    const auto &back = std::get<state::PlaceInstance>(std::get<CommandRequest>(d.env.body).command.body);
    EXPECT_EQ(back.shards, p.shards);
    EXPECT_EQ(back.context_token_limit, 512);
    EXPECT_EQ(back.model_id, "m");
}
