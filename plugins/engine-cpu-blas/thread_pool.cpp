#include "thread_pool.hpp"

#include <algorithm>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SKULK_CPU_RELAX() _mm_pause()
#else
#define SKULK_CPU_RELAX() ((void)0)
#endif

namespace skulk::cpu {

namespace {
// `parked` (may be null) cuts the spin short: checked every iteration, it
// costs one load of a line that is written once per forward pass.
template <class T, class Pred>
void spin_then_wait(std::atomic<T> &a, Pred done, int spin, const std::atomic<bool> *parked = nullptr,
                    std::atomic<int> *sleeping = nullptr) {
    for (int i = 0; i < spin; ++i) {
        if (done(a.load(std::memory_order_acquire))) return;
        if (parked && parked->load(std::memory_order_relaxed)) break;
        SKULK_CPU_RELAX();
    }
    for (;;) {
        T v = a.load(std::memory_order_acquire);
        if (done(v)) return;
        if (sleeping) sleeping->fetch_add(1, std::memory_order_relaxed);
        a.wait(v, std::memory_order_acquire);
        if (sleeping) sleeping->fetch_sub(1, std::memory_order_relaxed);
    }
}
} // namespace

ThreadPool::ThreadPool(unsigned n_threads, int spin_iterations) : spin_(spin_iterations) {
    if (n_threads == 0) n_threads = std::max(1u, std::thread::hardware_concurrency());
    n_ = static_cast<int>(n_threads);
    claimed_ = std::make_unique<std::atomic<uint8_t>[]>(n_);
    for (int i = 0; i < n_; ++i) claimed_[i].store(1, std::memory_order_relaxed); // nothing to claim yet
    threads_.reserve(n_ - 1);
    for (int i = 1; i < n_; ++i) threads_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
    stop_.store(true, std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_acq_rel);
    generation_.notify_all();
    for (auto &t : threads_) t.join();
}

void ThreadPool::dispatch(job_fn fn, void *ctx) {
    if (n_ == 1) {
        fn(ctx, 0, 1);
        return;
    }
    job_ = fn;
    job_ctx_ = ctx;
    finished_.store(0, std::memory_order_relaxed);
    // Release: a worker that claims a share (even one that woke for the
    // previous job) sees this job's function and the reset counter.
    for (int i = 1; i < n_; ++i) claimed_[i].store(0, std::memory_order_release);
    // Before the generation bump: a worker that wakes for this job spins
    // again afterwards, waiting for the next op of the same forward pass.
    parked_.store(false, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_acq_rel);
    generation_.notify_all();
    fn(ctx, 0, n_);
    for (int i = 1; i < n_; ++i) {
        if (claimed_[i].exchange(1, std::memory_order_acq_rel) == 0) {
            fn(ctx, i, n_);
            finished_.fetch_add(1, std::memory_order_acq_rel);
        }
    }
    const int all = n_ - 1;
    spin_then_wait(finished_, [all](int v) { return v == all; }, spin_);
}

void ThreadPool::worker(int index) {
    uint64_t seen = 0;
    for (;;) {
        spin_then_wait(generation_, [seen](uint64_t g) { return g != seen; }, spin_, &parked_, &sleeping_);
        seen = generation_.load(std::memory_order_acquire);
        if (stop_.load(std::memory_order_acquire)) return;
        if (claimed_[index].exchange(1, std::memory_order_acq_rel) != 0) continue; // the caller took it
        job_(job_ctx_, index, n_);
        if (finished_.fetch_add(1, std::memory_order_acq_rel) + 1 == n_ - 1) finished_.notify_one();
    }
}

Range split_range(int64_t total, int i, int n, int64_t align) {
    if (align < 1) align = 1;
    const int64_t units = (total + align - 1) / align;
    const int64_t per = units / n, extra = units % n;
    const int64_t u0 = i * per + std::min<int64_t>(i, extra);
    const int64_t u1 = u0 + per + (i < extra ? 1 : 0);
    return {std::min(total, u0 * align), std::min(total, u1 * align)};
}

} // namespace skulk::cpu
