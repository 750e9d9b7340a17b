#include "runner/status_reporter.hpp"

#include "log/logging.hpp"

#include <cerrno>
#include <cstdlib>
#include <string>
#include <unistd.h>

namespace skulk::runner {

StatusReporter::StatusReporter() {
    if (const char *s = std::getenv("SKULK_STATUS_FD"); s && *s) {
        char *end = nullptr;
        const long fd = std::strtol(s, &end, 10);
        if (*end == '\0' && fd >= 0 && fd < 65536) fd_ = static_cast<int>(fd);
        else log::get("runner")->warn("SKULK_STATUS_FD='{}' is not a file descriptor; status goes to the log only", s);
    }
}

void StatusReporter::line(std::string_view text) {
    log::get("runner")->info("status: {}", text);
    if (fd_ < 0) return;
    std::string l(text);
    // One line per status: newlines inside a message would split it.
    for (char &c : l)
        if (c == '\n' || c == '\r') c = ' ';
    l += '\n';
    for (size_t off = 0; off < l.size();) {
        const ssize_t n = ::write(fd_, l.data() + off, l.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) { // the supervisor is gone; nothing more to tell it
            fd_ = -1;
            return;
        }
        off += static_cast<size_t>(n);
    }
}

void StatusReporter::loading(unsigned layers, unsigned total) {
    line("loading " + std::to_string(layers) + "/" + std::to_string(total));
}
void StatusReporter::warming_up() { line("warming_up"); }
void StatusReporter::ready() { line("ready"); }
void StatusReporter::failed(std::string_view message) { line("failed " + std::string(message)); }
void StatusReporter::refused(std::string_view message) { line("refused " + std::string(message)); }
void StatusReporter::request_endpoint(std::string_view endpoint) { line("request_endpoint " + std::string(endpoint)); }
void StatusReporter::pipeline_endpoint(std::string_view endpoint) { line("pipeline_endpoint " + std::string(endpoint)); }

} // namespace skulk::runner
