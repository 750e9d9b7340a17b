// What a freshly forked child of the daemon does before exec (runners, the
// log shipper). Between fork and exec only async-signal-safe calls are
// allowed, so these only make system calls.
#pragma once

#include <sys/types.h>

namespace skulk {

// Writes a fixed message to stderr and leaves with 127.
[[noreturn]] void child_fail(const char *message);

// The child must not outlive the daemon (DESIGN.md section 2): it dies with
// `parent` (PR_SET_PDEATHSIG; exits 127 at once when the parent died before
// that took effect, since no signal would ever come), and undoes what the
// daemon set for itself: blocked stop signals, ignored SIGPIPE.
void become_child_of(pid_t parent);

} // namespace skulk
