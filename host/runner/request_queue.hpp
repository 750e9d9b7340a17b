// The inbox of the scheduler thread: the IPC thread pushes commands under a
// lock and wakes the scheduler, which takes them all at the start of a step
// (without waiting while it has work, waiting while it is idle).
#pragma once

#include "runner/request.hpp"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

namespace skulk::runner {

class RequestQueue {
public:
    void push(Command command);
    // Swaps the pending commands into `out` (cleared first). With wait > 0,
    // blocks until a command arrives, stop() or the timeout. Returns false
    // once stop() was called.
    bool take(std::vector<Command> &out, std::chrono::milliseconds wait);
    void stop();

private:
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<Command> pending_;
    bool stopping_ = false;
};

} // namespace skulk::runner
