// Telemetry gathering: /proc/meminfo parsing, the backend override list, the
// "publish early" rule, and a real reading of this machine.
#include "telemetry/gather.hpp"
#include "telemetry/publisher.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>

using namespace skulk::telemetry;

TEST(Telemetry, ParsesMeminfo) {
    uint64_t total = 0, avail = 0;
    EXPECT_TRUE(parse_meminfo("MemTotal:       24684080 kB\nMemFree:  100 kB\nMemAvailable:   22800100 kB\n", total, avail));
    EXPECT_EQ(total, 24684080ull * 1024);
    EXPECT_EQ(avail, 22800100ull * 1024);
    EXPECT_FALSE(parse_meminfo("MemTotal: 5 kB\n", total, avail));
}

TEST(Telemetry, BackendListOverride) {
    std::vector<BackendOffer> out;
    std::string err;
    ASSERT_TRUE(parse_backend_list("cpu_blas-cpu:10, vulkan-gpu", out, err)) << err;
    EXPECT_EQ(out, (std::vector<BackendOffer>{{"cpu_blas-cpu", 10}, {"vulkan-gpu", 0}}));
    ASSERT_TRUE(parse_backend_list("", out, err));
    EXPECT_TRUE(out.empty());
    EXPECT_FALSE(parse_backend_list("cpu_blas-cpu:high", out, err));
    EXPECT_NE(err.find("cpu_blas-cpu"), std::string::npos);
    EXPECT_FALSE(parse_backend_list(":3", out, err));
}

TEST(Telemetry, EnvOverridesAreValidated) {
    ::setenv("SKULK_TELEMETRY_RAM_AVAILABLE_BYTES", "12x", 1);
    Overrides o;
    EXPECT_NE(read_overrides(o).find("SKULK_TELEMETRY_RAM_AVAILABLE_BYTES"), std::string::npos);
    ::setenv("SKULK_TELEMETRY_RAM_AVAILABLE_BYTES", "1234", 1);
    ::setenv("SKULK_TELEMETRY_BACKENDS", "x-cpu:2", 1);
    o = Overrides{};
    ASSERT_EQ(read_overrides(o), "");
    const Reading r = gather("/", {{"cpu_blas-cpu", 9}}, o);
    EXPECT_EQ(r.ram_available, 1234u);
    EXPECT_EQ(r.backends, (std::vector<BackendOffer>{{"x-cpu", 2}}));
    ::unsetenv("SKULK_TELEMETRY_RAM_AVAILABLE_BYTES");
    ::unsetenv("SKULK_TELEMETRY_BACKENDS");
}

TEST(Telemetry, RealReadingOfThisMachine) {
    const Reading r = gather("/", {{"cpu_blas-cpu", 9}}, Overrides{});
    EXPECT_GT(r.ram_total, 0u);
    EXPECT_GT(r.ram_available, 0u);
    EXPECT_LE(r.ram_available, r.ram_total);
    EXPECT_GT(r.disk_total, 0u);
    EXPECT_LE(r.disk_available, r.disk_total);
    EXPECT_GE(r.cpu_cores, 1u);
    EXPECT_EQ(r.backends, (std::vector<BackendOffer>{{"cpu_blas-cpu", 9}}));
    EXPECT_FALSE(r.gpu_memory_total.has_value());
}

TEST(Telemetry, PublishesEarlyOnlyOnNoticeableChange) {
    Reading a;
    a.ram_total = 1000;
    a.ram_available = 500;
    Reading b = a;
    b.ram_available = 505; // 0.5 % of total
    EXPECT_FALSE(changed_noticeably(a, b));
    b.ram_available = 520; // 2 %
    EXPECT_TRUE(changed_noticeably(a, b));
    b = a;
    b.backends = {{"cpu_blas-cpu", 1}};
    EXPECT_TRUE(changed_noticeably(a, b));
}

TEST(Telemetry, PublisherSendsAtOnceAndStopsPromptly) {
    std::atomic<int> sent{0};
    Publisher p("/", {}, Overrides{}, [&](const Reading &) { ++sent; });
    p.start();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (sent == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_GE(sent.load(), 1);
    const auto t0 = std::chrono::steady_clock::now();
    p.stop();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
}
