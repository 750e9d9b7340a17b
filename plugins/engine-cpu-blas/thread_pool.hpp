// A pool of persistent worker threads for one engine instance.
//
// run(fn) calls fn(share, n_shares) once for every share 0..n-1 of a static
// split and returns when all have finished: one run() is one barrier.
// Share i belongs to worker i, but whoever claims it first runs it: the
// caller does share 0, then takes over the shares of workers that have not
// woken up yet. So a worker descheduled on a busy machine delays nothing,
// while on an idle machine every thread runs its own share.
// Workers spin briefly on a generation counter before sleeping on it, so a
// forward pass that issues run() back to back rarely pays a futex wake-up,
// while an idle engine does not burn a core. park() (the end of a forward
// pass) makes them skip that spin and sleep at once: in a pipeline several
// runner processes share one machine, and a rank that has finished its
// layers must not hold the core of the rank that starts next.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

namespace skulk::cpu {

class ThreadPool {
public:
    // About 50-500 us of polling (the pause instruction's latency varies):
    // long enough to bridge the gap between two operations of a forward
    // pass, short enough not to starve other processes on a shared machine.
    static constexpr int kSpinIterations = 20000;

    // n_threads total, including the calling thread; 0 = all cores.
    // spin_iterations: polls before a waiting thread sleeps (tests vary it).
    explicit ThreadPool(unsigned n_threads, int spin_iterations = kSpinIterations);
    ~ThreadPool();
    ThreadPool(const ThreadPool &) = delete;
    ThreadPool &operator=(const ThreadPool &) = delete;

    int size() const { return n_; }

    // fn is any callable (int thread, int n_threads); no allocation per call.
    // `work` estimates the job's size in multiply-adds: a job too small to
    // repay waking the workers runs on the caller alone, as fn(0, 1). That
    // matters most on a busy machine, where a sleeping worker can take a
    // scheduler tick to wake.
    template <class Fn>
    void run(Fn &&fn, int64_t work = INT64_MAX) {
        if (n_ == 1 || work < kMinParallelWork) {
            fn(0, 1);
            return;
        }
        auto call = [](void *ctx, int i, int n) { (*static_cast<std::remove_reference_t<Fn> *>(ctx))(i, n); };
        dispatch(call, const_cast<void *>(static_cast<const void *>(&fn)));
    }
    static constexpr int64_t kMinParallelWork = 64 * 1024;

    // No run() is expected soon: idle workers sleep now instead of spinning.
    // The next run() clears it (the spin between runs is back).
    void park() { parked_.store(true, std::memory_order_relaxed); }
    // Workers blocked in the kernel wait right now (for tests).
    int sleeping_workers() const { return sleeping_.load(std::memory_order_relaxed); }

private:
    using job_fn = void (*)(void *ctx, int thread, int n_threads);
    void dispatch(job_fn fn, void *ctx);
    void worker(int index);

    int n_ = 1;
    int spin_ = kSpinIterations;
    job_fn job_ = nullptr;
    void *job_ctx_ = nullptr;
    // Each on its own cache line: workers poll generation_, the caller polls pending_.
    alignas(64) std::atomic<uint64_t> generation_{0};
    alignas(64) std::atomic<int> finished_{0}; // shares 1..n-1 done
    alignas(64) std::atomic<bool> stop_{false};
    std::atomic<bool> parked_{false}; // read in the workers' spin loop, written once per forward
    std::atomic<int> sleeping_{0};
    std::unique_ptr<std::atomic<uint8_t>[]> claimed_; // per share: taken by someone
    std::vector<std::thread> threads_;
};

// [begin, end) of `total` items for thread i of n, in multiples of `align`.
struct Range {
    int64_t begin, end;
};
Range split_range(int64_t total, int i, int n, int64_t align = 1);

} // namespace skulk::cpu
