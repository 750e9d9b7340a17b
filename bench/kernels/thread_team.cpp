#include "thread_team.hpp"

#include <immintrin.h>
#include <sched.h>

namespace skulk::bench {
namespace {
// Spin briefly, then yield: on an oversubscribed machine a pure spin would
// hold the core the other team member needs.
inline void relax(int &spins) {
    if (++spins < 4096) _mm_pause();
    else sched_yield();
}
} // namespace

ThreadTeam::ThreadTeam(int n) : n_(n < 1 ? 1 : n) {
    for (int i = 1; i < n_; ++i) threads_.emplace_back([this, i] { loop(i); });
}

ThreadTeam::~ThreadTeam() {
    stop_.store(true, std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_acq_rel);
    for (auto &t : threads_) t.join();
}

void ThreadTeam::run(const std::function<void(int)> &fn) {
    job_ = &fn;
    done_.store(0, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_acq_rel);
    fn(0);
    int spins = 0;
    while (done_.load(std::memory_order_acquire) != n_ - 1) relax(spins);
}

void ThreadTeam::loop(int index) {
    uint64_t seen = 0;
    for (;;) {
        uint64_t g;
        int spins = 0;
        while ((g = generation_.load(std::memory_order_acquire)) == seen) relax(spins);
        seen = g;
        if (stop_.load(std::memory_order_acquire)) return;
        (*job_)(index);
        done_.fetch_add(1, std::memory_order_acq_rel);
    }
}

} // namespace skulk::bench
