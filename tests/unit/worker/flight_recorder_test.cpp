// The flight recorder ring and the crash-loop window, on their own.
#include "worker/crash_window.hpp"
#include "worker/flight_recorder.hpp"

#include <gtest/gtest.h>

#include <thread>

using namespace skulk::worker;
using namespace std::chrono_literals;

TEST(FlightRecorder, KeepsExactlyTheLast128InOrder) {
    FlightRecorder rec;
    EXPECT_EQ(rec.capacity(), 128u);
    EXPECT_TRUE(rec.entries().empty());
    for (int i = 0; i < 5; ++i) rec.record("p", "e", std::to_string(i));
    auto few = rec.entries();
    ASSERT_EQ(few.size(), 5u);
    EXPECT_EQ(few.front().detail, "0");
    EXPECT_EQ(few.back().detail, "4");
    for (int i = 5; i < 300; ++i) rec.record("p", "e", std::to_string(i));
    const auto all = rec.entries();
    ASSERT_EQ(all.size(), 128u);
    for (size_t i = 0; i < all.size(); ++i) {
        EXPECT_EQ(all[i].detail, std::to_string(300 - 128 + i));
        if (i) {
            EXPECT_LE(all[i - 1].at, all[i].at);
        }
    }
}

TEST(FlightRecorder, ConcurrentWritersLoseNothingWithinCapacity) {
    FlightRecorder rec(1000);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 250; ++i) rec.record("t" + std::to_string(t), "e", std::to_string(i));
        });
    for (auto &th : threads) th.join();
    EXPECT_EQ(rec.entries().size(), 1000u);
}

TEST(CrashWindow, TripsOnTheThirdFailureInsideTheWindow) {
    CrashWindow w(3, 60s);
    const auto t0 = CrashWindow::clock::time_point{} + 1000s;
    EXPECT_FALSE(w.record_failure(t0));
    EXPECT_FALSE(w.record_failure(t0 + 10s));
    EXPECT_TRUE(w.record_failure(t0 + 59s));
}

TEST(CrashWindow, OldFailuresSlideOut) {
    CrashWindow w(3, 60s);
    const auto t0 = CrashWindow::clock::time_point{} + 1000s;
    EXPECT_FALSE(w.record_failure(t0));
    EXPECT_FALSE(w.record_failure(t0 + 30s));
    EXPECT_FALSE(w.record_failure(t0 + 61s)) << "the first one left the window";
    EXPECT_EQ(w.failures(t0 + 61s), 2);
    EXPECT_EQ(w.failures(t0 + 200s), 0);
    EXPECT_THROW(CrashWindow(0, 1s), std::invalid_argument);
}
