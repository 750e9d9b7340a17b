// A fixed team of spinning worker threads for the benchmarks: run(fn) calls
// fn(thread_index) on every member (the caller is member 0) and returns when
// all are done. Spinning (then yielding), not sleeping, like an inference
// engine's decode loop.
#pragma once

#include <atomic>
#include <functional>
#include <thread>
#include <vector>

namespace skulk::bench {

class ThreadTeam {
public:
    explicit ThreadTeam(int n);
    ~ThreadTeam();
    ThreadTeam(const ThreadTeam &) = delete;
    ThreadTeam &operator=(const ThreadTeam &) = delete;
    int size() const { return n_; }
    void run(const std::function<void(int)> &fn);

private:
    void loop(int index);
    int n_;
    std::vector<std::thread> threads_;
    const std::function<void(int)> *job_ = nullptr;
    alignas(64) std::atomic<uint64_t> generation_{0};
    alignas(64) std::atomic<int> done_{0};
    alignas(64) std::atomic<bool> stop_{false};
};

} // namespace skulk::bench
