// The engine's thread pool: every share of every run() runs exactly once and
// is complete when run() returns, also when workers are slow to wake (the
// caller then takes their shares over) and across many back-to-back runs.
#include "thread_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace {

using skulk::cpu::Range;
using skulk::cpu::split_range;
using skulk::cpu::ThreadPool;

TEST(ThreadPool, EveryShareRunsOnceBeforeRunReturns) {
    for (unsigned n : {1u, 2u, 3u, 5u}) {
        ThreadPool pool(n);
        std::vector<std::atomic<int>> hits(n);
        for (int round = 0; round < 2000; ++round) {
            for (auto &h : hits) h.store(0);
            pool.run([&](int i, int nth) {
                ASSERT_EQ(nth, static_cast<int>(n));
                if (round % 97 == 0 && i == nth - 1) std::this_thread::sleep_for(std::chrono::microseconds(200));
                hits[i].fetch_add(1);
            });
            for (unsigned i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "share " << i << " round " << round;
        }
    }
}

TEST(ThreadPool, SmallJobsRunInlineOnTheCaller) {
    ThreadPool pool(2);
    const auto caller = std::this_thread::get_id();
    int calls = 0;
    pool.run([&](int i, int nth) {
        EXPECT_EQ(nth, 1);
        EXPECT_EQ(std::this_thread::get_id(), caller);
        ++calls;
    }, 10);
    EXPECT_EQ(calls, 1);
}

// Runs one job whose shares wait for each other, so the worker runs its own
// share (the caller cannot take it over) and is awake when run() returns.
void run_on_every_thread(ThreadPool &pool) {
    std::atomic<int> hits{0};
    pool.run([&](int, int nth) {
        hits.fetch_add(1);
        while (hits.load() < nth) std::this_thread::yield();
    });
    EXPECT_EQ(hits.load(), pool.size());
}

// Polls until the pool's workers all sleep in the kernel or `wait` passes.
bool workers_sleep_within(ThreadPool &pool, std::chrono::milliseconds wait) {
    const auto deadline = std::chrono::steady_clock::now() + wait;
    while (pool.sleeping_workers() != pool.size() - 1) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::yield();
    }
    return true;
}

// A parked pool's workers sleep at once instead of spinning for the next op
// (pipeline ranks share a machine's cores), the next run() clears it (the
// spin between the ops of one forward pass stays), and every share still
// runs. The spin is made practically endless so that the difference does not
// depend on timing: without park() the worker must still be spinning.
TEST(ThreadPool, ParkedWorkersSleepWithoutSpinning) {
    ThreadPool pool(2, 2'000'000'000);
    for (int round = 0; round < 3; ++round) {
        run_on_every_thread(pool);
        EXPECT_FALSE(workers_sleep_within(pool, std::chrono::milliseconds(100))) << "round " << round;
        pool.park();
        EXPECT_TRUE(workers_sleep_within(pool, std::chrono::seconds(10))) << "round " << round;
    }
}

TEST(ThreadPool, SplitRangeCoversInAlignedPieces) {
    for (int64_t total : {0, 1, 15, 16, 17, 1000, 50257})
        for (int n : {1, 2, 3, 7})
            for (int64_t align : {1, 4, 16}) {
                int64_t next = 0;
                for (int i = 0; i < n; ++i) {
                    const Range r = split_range(total, i, n, align);
                    EXPECT_EQ(r.begin, next);
                    EXPECT_LE(r.begin, r.end);
                    if (r.end != total) EXPECT_EQ(r.end % align, 0);
                    next = r.end;
                }
                EXPECT_EQ(next, total);
            }
}

} // namespace
