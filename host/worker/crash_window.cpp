#include "worker/crash_window.hpp"

#include <stdexcept>

namespace skulk::worker {

CrashWindow::CrashWindow(int max_failures, std::chrono::milliseconds window)
    : max_failures_(max_failures), window_(window) {
    if (max_failures < 1) throw std::invalid_argument("CrashWindow: max_failures must be >= 1");
}

void CrashWindow::expire(clock::time_point now) {
    while (!failures_.empty() && now - failures_.front() >= window_) failures_.pop_front();
}

bool CrashWindow::record_failure(clock::time_point now) {
    expire(now);
    failures_.push_back(now);
    return int(failures_.size()) >= max_failures_;
}

int CrashWindow::failures(clock::time_point now) {
    expire(now);
    return int(failures_.size());
}

} // namespace skulk::worker
