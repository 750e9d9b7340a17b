// skulk-runner: one model instance (rank 0 of a single-node instance). Loads
// the engine plugin chosen by --backend, the GGUF, its tokenizer and chat
// template; reports loading/warming_up/ready/failed on SKULK_STATUS_FD;
// serves the ZeroMQ request protocol (host/runner/README.md) with the
// continuous-batching scheduler; exits on "shutdown" on stdin, SIGTERM or
// SIGINT. Exit codes: 0 clean stop, 1 failure, 2 bad command line.
#include "common/stop_signals.hpp"
#include "engine/compute_session.hpp"
#include "log/logging.hpp"
#include "model/chat_template.hpp"
#include "model/gguf.hpp"
#include "model/vocab.hpp"
#include "plugin/registry.hpp"
#include "runner/ipc_server.hpp"
#include "runner/request_queue.hpp"
#include "runner/runner_options.hpp"
#include "runner/scheduler.hpp"
#include "runner/status_reporter.hpp"

#include <zmq.hpp>

#include <cerrno>
#include <csignal>
#include <fstream>
#include <iostream>
#include <poll.h>
#include <sstream>
#include <sys/signalfd.h>
#include <thread>
#include <unistd.h>

using namespace skulk;
using namespace skulk::runner;

namespace {

// The stop signals arrive through this signalfd, in the main loop.
int stop_signal_fd() {
    const sigset_t set = skulk::block_stop_signals();
    const int fd = signalfd(-1, &set, SFD_CLOEXEC);
    if (fd < 0) throw std::runtime_error(std::string("signalfd: ") + std::strerror(errno));
    return fd;
}

// Until "shutdown" on stdin, SIGTERM or SIGINT. stdin closing is not a stop
// (PR_SET_PDEATHSIG covers a dead supervisor); it is just no longer read.
void wait_for_stop(int sig_fd) {
    auto log = log::get("runner");
    bool stdin_open = true;
    std::string line;
    for (;;) {
        pollfd fds[2] = {{sig_fd, POLLIN, 0}, {STDIN_FILENO, static_cast<short>(stdin_open ? POLLIN : 0), 0}};
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
        }
        if (fds[0].revents & POLLIN) {
            signalfd_siginfo si{};
            if (::read(sig_fd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
                log->info("signal {}: stopping", si.ssi_signo);
                return;
            }
        }
        if (stdin_open && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            char buf[256];
            const ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
            if (n <= 0) {
                if (n < 0 && errno == EINTR) continue;
                stdin_open = false;
                continue;
            }
            line.append(buf, static_cast<size_t>(n));
            for (size_t nl; (nl = line.find('\n')) != std::string::npos; line.erase(0, nl + 1)) {
                if (line.compare(0, nl, "shutdown") == 0 && nl == 8) {
                    log->info("shutdown on stdin: stopping");
                    return;
                }
                log->warn("stdin: unknown command '{}'", line.substr(0, nl));
            }
        }
    }
}

std::string read_file(const std::filesystem::path &p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) throw std::runtime_error("--chat-template-file: cannot read '" + p.string() + "'");
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

int serve(const RunnerOptions &o, StatusReporter &status) {
    auto log = log::get("runner");
    // The registry forks probe children: before any thread exists.
    plugin::Registry registry(o.plugin_dirs);
    registry.scan();
    auto plugin = registry.best(SKULK_KIND_COMPUTE, {o.backend});
    if (!plugin || !plugin->compute()) {
        std::string dirs;
        for (const auto &d : registry.dirs()) dirs += (dirs.empty() ? "" : ", ") + d.string();
        throw std::runtime_error("--backend " + o.backend + ": no usable compute plugin with this tag in " +
                                 (dirs.empty() ? std::string("(no plugin dirs)") : dirs));
    }
    const int sig_fd = stop_signal_fd();

    zmq::context_t ctx(1);
    RequestQueue inbox;
    IpcServer server(ctx, o.endpoint, inbox); // bound now: pings answer ready:false while loading
    server.start();

    const auto file = model::GgufFile::open(o.model);
    const auto vocab = model::Vocab::from_gguf(*file);
    std::optional<std::string> tmpl_source =
        o.chat_template_file.empty() ? file->get_string("tokenizer.chat_template") : read_file(o.chat_template_file);
    std::unique_ptr<model::ChatTemplate> tmpl;
    if (tmpl_source) {
        try {
            tmpl = std::make_unique<model::ChatTemplate>(*tmpl_source);
        } catch (const std::exception &e) {
            if (!o.chat_template_file.empty()) throw std::runtime_error("--chat-template-file: " + std::string(e.what()));
            log->warn("{}: the chat template cannot be used ({}); chat requests will be refused", o.model.string(), e.what());
        }
    }
    model::ChatTemplateOptions topts;
    if (vocab->bos() >= 0) topts.bos_token = vocab->token_to_piece(vocab->bos());
    if (vocab->eos() >= 0) topts.eos_token = vocab->token_to_piece(vocab->eos());

    engine::SessionOptions so;
    so.n_threads = o.threads;
    so.n_ctx = o.ctx;
    so.n_seq_max = o.n_seq_max;
    so.n_batch_max = o.n_seq_max + o.prefill_chunk; // every decode token + one prompt chunk
    const unsigned n_layer = model::read_hparams(*file).n_layer;
    if (o.first_layer != 0 || (o.last_layer >= 0 && static_cast<unsigned>(o.last_layer) + 1 != n_layer))
        throw std::runtime_error("--first-layer/--last-layer: layers " + std::to_string(o.first_layer) + ".." +
                                 std::to_string(o.last_layer) + " of " + std::to_string(n_layer) +
                                 " is a pipeline shard, which is not supported yet (run every layer)");
    status.loading(0, n_layer);
    engine::ComputeSession session(plugin, plugin->compute(), file, 0, -1, SKULK_RANGE_EMBED | SKULK_RANGE_HEAD, so);
    status.loading(n_layer, n_layer);

    // One tiny forward so that the first request does not pay for lazy setup.
    status.warming_up();
    {
        const int32_t tok = vocab->bos() >= 0 ? vocab->bos() : 0, pos = 0;
        const uint32_t seq = 0;
        const uint8_t want = 1;
        skulk_batch b{sizeof(skulk_batch), 1, &tok, nullptr, &pos, &seq, &want};
        std::vector<float> out(static_cast<size_t>(session.n_vocab()));
        session.forward(b, out.data(), out.size());
        session.seq_drop(0, 0, -1);
    }

    Scheduler scheduler(session, *vocab, tmpl.get(), topts, inbox, server.outlet(), SchedulerOptions{o.prefill_chunk, std::chrono::milliseconds(o.keepalive_ms)});
    std::thread scheduler_thread([&] { scheduler.run(); });
    server.set_ready(true);
    status.ready();
    log->info("instance {} serving {} on {} ({} slots, ctx {})", o.instance_id, o.model.string(), o.endpoint,
              o.n_seq_max, session.n_ctx());

    wait_for_stop(sig_fd);
    server.set_ready(false);
    inbox.stop();
    scheduler_thread.join();
    server.stop();
    ::close(sig_fd);
    return 0;
}

} // namespace

int main(int argc, char **argv) {
    RunnerOptions o;
    try {
        if (!parse_runner_args(argc, argv, o)) return 0;
    } catch (const UsageError &e) {
        std::cerr << "skulk-runner: " << e.what() << "\n";
        return 2;
    }
    log::init(o.verbosity);
    StatusReporter status;
    try {
        return serve(o, status);
    } catch (const std::exception &e) {
        log::get("runner")->error("{}", e.what());
        status.failed(e.what());
        return 1;
    }
}
