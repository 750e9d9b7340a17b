// A stand-in runner for the supervisor tests: speaks the runner protocol
// (status lines on fd 3, "shutdown" on stdin) and misbehaves on request.
//   --ready-after MS        report "ready" after MS ms (default 0)
//   --no-ready              never report ready
//   --crash-after MS        SIGSEGV MS ms after ready
//   --exit-after MS CODE    exit(CODE) MS ms after ready
//   --crash-once MARKER     crash right after ready unless MARKER exists (creates it)
//   --ignore-shutdown       do not act on "shutdown"
//   --ignore-term           ignore SIGTERM
//   --chatter N             write N status lines before ready
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <string>
#include <thread>
#include <unistd.h>

namespace {

void status(const std::string &line) {
    const std::string l = line + "\n";
    const ssize_t n = ::write(3, l.data(), l.size());
    (void)n;
}

void sleep_ms(long ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

} // namespace

int main(int argc, char **argv) {
    long ready_after = 0, crash_after = -1, exit_after = -1;
    int exit_code = 0;
    bool no_ready = false, ignore_shutdown = false;
    const char *crash_once = nullptr;
    long chatter = 0;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--ready-after" && i + 1 < argc) ready_after = std::atol(argv[++i]);
        else if (a == "--no-ready") no_ready = true;
        else if (a == "--crash-after" && i + 1 < argc) crash_after = std::atol(argv[++i]);
        else if (a == "--exit-after" && i + 2 < argc) { exit_after = std::atol(argv[++i]); exit_code = std::atoi(argv[++i]); }
        else if (a == "--crash-once" && i + 1 < argc) crash_once = argv[++i];
        else if (a == "--chatter" && i + 1 < argc) chatter = std::atol(argv[++i]);
        else if (a == "--ignore-shutdown") ignore_shutdown = true;
        else if (a == "--ignore-term") std::signal(SIGTERM, SIG_IGN);
        else { std::fprintf(stderr, "fake_runner: unknown argument %s\n", a.c_str()); return 2; }
    }
    status("loading weights 0/5");
    for (long i = 0; i < chatter; ++i) status("chatter " + std::to_string(i));
    if (no_ready) {
        for (;;) ::pause();
    }
    sleep_ms(ready_after);
    if (crash_once) {
        const int fd = ::open(crash_once, O_CREAT | O_EXCL | O_WRONLY, 0644);
        if (fd >= 0) {
            ::close(fd);
            status("ready");
            std::raise(SIGSEGV);
        }
    }
    status("ready");
    if (crash_after >= 0) {
        sleep_ms(crash_after);
        std::raise(SIGSEGV);
    }
    if (exit_after >= 0) {
        sleep_ms(exit_after);
        return exit_code;
    }
    // Serve: wait for "shutdown" on stdin.
    std::string buf;
    char c[256];
    for (;;) {
        const ssize_t n = ::read(0, c, sizeof c);
        if (n <= 0) {
            if (ignore_shutdown) for (;;) ::pause();
            return 0; // the supervisor is gone
        }
        buf.append(c, size_t(n));
        if (buf.find("shutdown\n") != std::string::npos && !ignore_shutdown) {
            status("stopping graceful");
            return 0;
        }
    }
}
