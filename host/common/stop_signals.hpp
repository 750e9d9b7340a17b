// Stop signals (SIGINT, SIGTERM) are received in one place only: the main
// thread blocks them before starting any other thread, so every thread
// inherits the mask, and then waits for them (sigwait or a signalfd).
#pragma once

#include <csignal>

namespace skulk {

// Blocks SIGINT and SIGTERM in the calling thread, ignores SIGPIPE (a
// vanished peer is an error return, not a death), and returns the set to
// wait on.
sigset_t block_stop_signals();

} // namespace skulk
