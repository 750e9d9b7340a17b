// init_daemon's queue: a logging thread stuck on a stalled sink (here stdout
// is a pipe nobody reads) never makes a caller wait; the lines that do not
// fit are dropped and counted (what /metrics shows). Its own binary: it
// sets up the process-wide daemon logging once.
#include "log/log_control.hpp"
#include "log/logging.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fcntl.h>
#include <thread>
#include <unistd.h>

TEST(DaemonLogging, AStalledSinkNeverBlocksTheCallerAndDropsAreCounted) {
    int p[2];
    ASSERT_EQ(::pipe(p), 0);
    ::fcntl(p[1], F_SETPIPE_SZ, 4096);
    const int saved_stdout = ::dup(1);
    ASSERT_EQ(::dup2(p[1], 1), 1); // nobody reads p[0] until the end: the JSON sink stalls
    ::setenv("SKULK_LOGGING_ENABLED", "1", 1);
    ::setenv("SKULK_LOG_DURABLE", "0", 1);
    ::setenv("SKULK_LOG_QUEUE_LINES", "64", 1);
    ASSERT_EQ(skulk::log::init_daemon(-2), ""); // errors only on stderr: the JSON sink takes every level it is given
    auto log = skulk::log::get("test");
    log->set_level(spdlog::level::info);

    const auto started = std::chrono::steady_clock::now();
    for (int i = 0; i < 20000; ++i) log->info("line {} {}", i, std::string(100, 'x'));
    const auto took = std::chrono::steady_clock::now() - started;

    const auto dropped = skulk::log::dropped_lines();
    EXPECT_GT(dropped.queue_full, 10000u) << "a 64-line queue in front of a stalled 4 KiB pipe drops most of 20000 lines";
    // A blocking policy would never get here: the pipe takes ~30 lines.
    EXPECT_LT(took, std::chrono::seconds(20));

    // Unstall (read the pipe to its end) so shutdown can drain and join.
    ::dup2(saved_stdout, 1);
    ::close(p[1]);
    std::thread reader([&] {
        char buf[65536];
        while (::read(p[0], buf, sizeof buf) > 0) {
        }
    });
    skulk::log::shutdown();
    reader.join();
}
