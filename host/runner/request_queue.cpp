#include "runner/request_queue.hpp"

namespace skulk::runner {

void RequestQueue::push(Command command) {
    {
        std::lock_guard lock(mu_);
        pending_.push_back(std::move(command));
    }
    cv_.notify_one();
}

bool RequestQueue::take(std::vector<Command> &out, std::chrono::milliseconds wait) {
    out.clear();
    std::unique_lock lock(mu_);
    if (wait.count() > 0) cv_.wait_for(lock, wait, [&] { return stopping_ || !pending_.empty(); });
    if (stopping_) return false;
    out.swap(pending_);
    return true;
}

void RequestQueue::stop() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
}

} // namespace skulk::runner
