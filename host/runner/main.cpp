// skulk-runner: one model instance, or one rank of a pipeline instance.
// Loads the engine plugin chosen by --backend and the GGUF; checks that its
// shard fits this node (else refuses, exit 3); reports
// loading/warming_up/ready/failed on SKULK_STATUS_FD. Rank 0 also loads the
// tokenizer and chat template and serves the ZeroMQ request protocol
// (host/runner/README.md) with the continuous-batching scheduler, running
// its steps locally or through the pipeline (host/pipeline/); the other
// ranks only run their layers for rank 0. Exits on "shutdown" on stdin,
// SIGTERM or SIGINT. Exit codes: 0 clean stop, 1 failure, 2 bad command
// line, 3 refused (the shard does not fit).
#include "common/stop_signals.hpp"
#include "engine/compute_session.hpp"
#include "log/logging.hpp"
#include "chat_template/chat_template.hpp"
#include "gguf/gguf.hpp"
#include "tokenizer/vocab.hpp"
#include "plugin/registry.hpp"
#include "runner/ipc_server.hpp"
#include "runner/runner_options.hpp"
#include "runner/scheduler.hpp"
#include "runner/shard_fit.hpp"
#include "runner/status_reporter.hpp"
#include "pipeline/head_executor.hpp"
#include "pipeline/stage.hpp"
#include "engine/step_executor.hpp"
#include "gguf/hparams.hpp"

#include <zmq.hpp>

#include <cerrno>
#include <cstdlib>
#include <csignal>
#include <fstream>
#include <iostream>
#include <poll.h>
#include <sstream>
#include <mutex>
#include <sys/eventfd.h>
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

// Written by a thread that hit a failure the runner cannot serve through (a
// pipeline rank is gone); wakes the main loop.
class FatalSignal {
public:
    FatalSignal() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
        if (fd_ < 0) throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
    }
    ~FatalSignal() { ::close(fd_); }
    void raise(const std::string &why) {
        {
            std::lock_guard lock(mutex_);
            if (why_.empty()) why_ = why;
        }
        const uint64_t one = 1;
        (void)!::write(fd_, &one, sizeof one);
    }
    int fd() const { return fd_; }
    std::string why() const {
        std::lock_guard lock(mutex_);
        return why_;
    }

private:
    int fd_;
    mutable std::mutex mutex_;
    std::string why_;
};

bool signal_pending(int sig_fd) {
    pollfd p{sig_fd, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
}

// Until "shutdown" on stdin, SIGTERM, SIGINT (true) or a fatal failure
// (false). stdin closing is not a stop (PR_SET_PDEATHSIG covers a dead
// supervisor); it is just no longer read.
bool wait_for_stop(int sig_fd, const FatalSignal &fatal) {
    auto log = log::get("runner");
    bool stdin_open = true;
    std::string line;
    for (;;) {
        pollfd fds[3] = {{sig_fd, POLLIN, 0},
                         {fatal.fd(), POLLIN, 0},
                         {STDIN_FILENO, static_cast<short>(stdin_open ? POLLIN : 0), 0}};
        if (::poll(fds, 3, -1) < 0) {
            if (errno == EINTR) continue;
            throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
        }
        if (fds[0].revents & POLLIN) {
            signalfd_siginfo si{};
            if (::read(sig_fd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
                log->info("signal {}: stopping", si.ssi_signo);
                return true;
            }
        }
        if (fds[1].revents & POLLIN) return false;
        if (stdin_open && (fds[2].revents & (POLLIN | POLLHUP | POLLERR))) {
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
                    return true;
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

// One forward of one position so that the first request does not pay for
// lazy setup. A range without the embedding gets a zero hidden state.
void warm_up(engine::ComputeSession &session, int32_t token) {
    const int32_t pos = 0;
    const uint32_t seq = 0;
    const uint8_t want = 1;
    const bool head = session.range_flags() & SKULK_RANGE_HEAD;
    std::vector<float> in(static_cast<size_t>(session.n_embd()), 0.0f);
    std::vector<float> out(static_cast<size_t>(head ? session.n_vocab() : session.n_embd()));
    skulk_batch b{sizeof(skulk_batch), 1, nullptr, nullptr, &pos, &seq, &want};
    if (session.range_flags() & SKULK_RANGE_EMBED) b.token = &token;
    else b.embd = in.data();
    session.forward(b, out.data(), out.size());
    session.seq_drop(0, 0, -1);
}

// The layer range of this rank and the flags that go with it.
struct Range {
    uint32_t first = 0, last = 0, flags = 0;
};
Range range_of(const RunnerOptions &o, uint32_t n_layer) {
    Range r;
    r.first = static_cast<uint32_t>(o.first_layer);
    r.last = o.last_layer < 0 ? n_layer - 1 : static_cast<uint32_t>(o.last_layer);
    if (r.last >= n_layer || r.first > r.last)
        throw std::runtime_error("--first-layer/--last-layer: layers " + std::to_string(r.first) + ".." +
                                 std::to_string(r.last) + " are not a range of this model's " + std::to_string(n_layer) +
                                 " layers");
    if ((o.rank == 0) != (r.first == 0))
        throw std::runtime_error("--rank " + std::to_string(o.rank) + ": rank 0 and only rank 0 runs layer 0");
    if ((o.rank + 1 == o.world_size) != (r.last + 1 == n_layer))
        throw std::runtime_error("--rank " + std::to_string(o.rank) + ": the last rank and only it runs the last layer");
    r.flags = (r.first == 0 ? uint32_t(SKULK_RANGE_EMBED) : 0u) | (r.last + 1 == n_layer ? uint32_t(SKULK_RANGE_HEAD) : 0u);
    return r;
}

// Ranks 1..W-1: run our layers for rank 0 until stopped or the pipeline breaks.
int serve_stage(const RunnerOptions &o, StatusReporter &status, const std::shared_ptr<const model::GgufFile> &file,
                std::shared_ptr<const plugin::LoadedPlugin> plugin, engine::SessionOptions so, const Range &range,
                uint32_t n_layer, int sig_fd, const std::optional<cluster::CurveKeys> &keys) {
    auto log = log::get("runner");
    zmq::context_t ctx(1);
    status.loading(0, range.last - range.first + 1);
    engine::ComputeSession session(plugin, plugin->compute(), file, range.first, static_cast<int32_t>(range.last),
                                   range.flags, so);
    status.loading(range.last - range.first + 1, range.last - range.first + 1);
    status.warming_up();
    warm_up(session, 0);
    pipeline::Stage stage(ctx, session, o.rank, o.world_size, o.pipeline_hub, keys);
    stage.join();
    FatalSignal fatal;
    std::atomic<bool> stop{false};
    std::thread worker([&] {
        if (auto why = stage.serve(stop); !why.empty()) fatal.raise(why);
    });
    status.ready();
    log->info("instance {}: rank {}/{} serving layers {}..{} of {} for hub {}", o.instance_id, o.rank, o.world_size,
              range.first, range.last, n_layer, o.pipeline_hub);
    const bool stopped = wait_for_stop(sig_fd, fatal);
    stop = true;
    worker.join();
    ::close(sig_fd);
    if (stopped) return 0;
    status.failed(fatal.why());
    return 1;
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

    const auto file = model::GgufFile::open(o.model);
    const auto hp = model::read_hparams(*file);
    const Range range = range_of(o, hp.n_layer);
    engine::SessionOptions so;
    so.n_threads = o.threads;
    so.n_ctx = o.ctx ? o.ctx : std::min<uint32_t>(hp.n_ctx_train ? hp.n_ctx_train : 4096, 4096);
    so.n_seq_max = o.n_seq_max;
    so.n_batch_max = o.n_seq_max + o.prefill_chunk; // every decode token + one prompt chunk
    if (auto why = refuse_reason(shard_need(*file, range.first, range.last, range.flags, so.n_ctx),
                                 runner_memory_budget(), range.first, range.last);
        !why.empty()) {
        status.refused(why);
        return kExitRefused;
    }
    // A cluster secret (from the worker) encrypts every socket of this runner.
    const char *secret = std::getenv("SKULK_CLUSTER_SECRET");
    const auto keys = cluster::curve_keys_for(secret ? secret : "");
    if (o.rank > 0) return serve_stage(o, status, file, plugin, so, range, hp.n_layer, sig_fd, keys);

    zmq::context_t ctx(1);
    // The hub is bound before loading so that the other ranks start loading now.
    std::string hub_endpoint;
    zmq::socket_t hub;
    if (o.world_size > 1) {
        hub = pipeline::HeadExecutor::bind_hub(ctx, o.pipeline_listen, hub_endpoint, keys);
        status.pipeline_endpoint(hub_endpoint);
    }
    IpcServer server(ctx, o.endpoint, keys); // bound now: pings answer ready:false while loading
    if (!o.request_listen.empty()) status.request_endpoint(server.bind_tcp(o.request_listen));
    server.start_loading();

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

    const unsigned n_mine = range.last - range.first + 1;
    status.loading(0, n_mine);
    engine::ComputeSession session(plugin, plugin->compute(), file, range.first, static_cast<int32_t>(range.last),
                                   range.flags, so);
    status.loading(n_mine, n_mine);
    status.warming_up();
    warm_up(session, vocab->bos() >= 0 ? vocab->bos() : 0);

    std::unique_ptr<engine::StepExecutor> executor;
    if (o.world_size > 1) {
        auto head = std::make_unique<pipeline::HeadExecutor>(ctx, std::move(hub), session, o.world_size, hp.n_layer);
        log->info("waiting for {} more pipeline rank(s) at {}", o.world_size - 1, hub_endpoint);
        if (!head->wait_for_ranks([&] { return signal_pending(sig_fd); })) {
            server.stop();
            ::close(sig_fd);
            return 0;
        }
        executor = std::move(head);
    } else {
        executor = std::make_unique<engine::LocalExecutor>(session);
    }

    FatalSignal fatal;
    SchedulerOptions sopts;
    sopts.prefill_chunk = o.prefill_chunk;
    sopts.keepalive_interval = std::chrono::milliseconds(o.keepalive_ms);
    sopts.on_broken = [&](const std::string &why) { fatal.raise(why); };
    server.serve(); // the scheduler thread takes the socket over
    Scheduler scheduler(*executor, *vocab, tmpl.get(), topts, server, sopts);
    std::thread scheduler_thread([&] { scheduler.run(); });
    status.ready();
    log->info("instance {} serving {} on {} ({} slots, ctx {}, {} rank(s))", o.instance_id, o.model.string(), o.endpoint,
              o.n_seq_max, session.n_ctx(), o.world_size);

    const bool stopped = wait_for_stop(sig_fd, fatal);
    server.stop(); // the scheduler ends every request and sends their errors itself
    scheduler_thread.join();
    executor.reset(); // a pipeline head says bye to the other ranks
    ::close(sig_fd);
    if (stopped) return 0;
    status.failed(fatal.why());
    return 1;
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
