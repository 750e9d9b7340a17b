#include "common/child_setup.hpp"

#include <csignal>
#include <cstring>
#include <sys/prctl.h>
#include <unistd.h>

namespace skulk {

void child_fail(const char *message) {
    const ssize_t n = ::write(2, message, std::strlen(message));
    (void)n;
    ::_exit(127);
}

void become_child_of(pid_t parent) {
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) child_fail("skulk: prctl(PR_SET_PDEATHSIG) failed\n");
    if (::getppid() != parent) ::_exit(127);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
}

} // namespace skulk
