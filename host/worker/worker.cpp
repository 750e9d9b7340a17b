#include "worker/worker.hpp"

#include "common/paths.hpp"
#include "log/logging.hpp"
#include "placing/place.hpp"

#include <algorithm>
#include <cstdio>
#include <condition_variable>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <map>
#include <mutex>
#include <set>
#include <sys/statvfs.h>
#include <thread>
#include <unistd.h>

namespace skulk::worker {
namespace {

using state::RunnerStatus;
using SPhase = state::RunnerPhase;

// Why a shard cannot be started here; reported as the runner's Failed message.
struct LaunchError : std::runtime_error {
    using std::runtime_error::runtime_error;
};
// A runner's file could not be written on this node (disk full, a read-only
// mount). Unlike other launch errors the instance is kept, its runner
// Failed with this reason in /state, so the failure stays visible.
struct WriteError : LaunchError {
    using LaunchError::LaunchError;
};

std::string write_failure(const std::filesystem::path &file, int err) {
    std::string why = "cannot write " + file.string() + ": " + std::strerror(err);
    struct statvfs fs{};
    if (::statvfs(file.parent_path().c_str(), &fs) == 0)
        why += " (" + std::to_string(uint64_t(fs.f_bavail) * fs.f_frsize) + " bytes free there)";
    return why;
}

void write_runner_file(const std::filesystem::path &file, std::string_view text) {
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw WriteError(write_failure(file, errno));
    for (size_t done = 0; done < text.size();) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            const int err = n < 0 ? errno : ENOSPC;
            ::close(fd);
            throw WriteError(write_failure(file, err));
        }
        done += size_t(n);
    }
    if (::close(fd) != 0) throw WriteError(write_failure(file, errno));
}

std::string join(const std::vector<std::string> &v) {
    std::string out;
    for (const auto &s : v) out += (out.empty() ? "" : ", ") + s;
    return "[" + out + "]";
}

// "3/5" -> (3, 5); anything else leaves the numbers alone.
void parse_layers(const std::string &detail, int &loaded, int &total) {
    int a = 0, b = 0;
    if (std::sscanf(detail.c_str(), "%d/%d", &a, &b) == 2 && a >= 0 && b > 0) {
        loaded = a;
        total = b;
    }
}

} // namespace

std::filesystem::path runner_executable_default() {
    if (const char *e = std::getenv("SKULK_RUNNER_BIN"); e && *e) return e;
    return executable_dir() / "skulk-runner";
}

std::string Worker::runner_id(const std::string &instance_id, int rank) {
    return "runner-" + instance_id + "-r" + std::to_string(rank);
}

std::string Worker::reachable(const cluster::View &view, const std::string &node_id, const std::string &endpoint) {
    auto host_of = [](std::string ep) {
        if (auto p = ep.find("://"); p != std::string::npos) ep.erase(0, p + 3);
        if (auto c = ep.rfind(':'); c != std::string::npos) ep.erase(c);
        return ep;
    };
    std::string host;
    for (const auto &p : view.peers)
        if (p.node_id == node_id) host = host_of(p.endpoint);
    if (host.empty())
        if (auto it = view.state.nodes.find(node_id); it != view.state.nodes.end()) host = host_of(it->second.endpoint);
    const auto colon = endpoint.rfind(':');
    if (host.empty() || host == "*" || host == "0.0.0.0" || colon == std::string::npos) return endpoint;
    return "tcp://" + host + endpoint.substr(colon);
}

std::string Worker::endpoint_for(const std::filesystem::path &data_dir, const std::string &instance_id, int rank) {
    auto path = (data_dir / "runners" / (instance_id + "-r" + std::to_string(rank) + ".sock")).string();
    // A Unix socket path holds at most 107 bytes; a deep data dir falls back to /tmp.
    if (path.size() > 100) path = "/tmp/skulk-" + instance_id + "-r" + std::to_string(rank) + ".sock";
    return "unix://" + path; // runner/unix_clients.hpp: no ZeroMQ I/O threads between runner and API thread
}

// Re-sending a runner status the State lacks (a new master's session).
constexpr auto kRereportEvery = std::chrono::seconds(1);
// Self-healing: wait this long after an instance is lost before planning (a
// node killed a moment ago is only then no longer heard), retry this often
// while telemetry or a master is missing, give up after kHealGiveUp.
constexpr auto kHealSettle = std::chrono::milliseconds(1500);
constexpr auto kHealRetry = std::chrono::seconds(1);
constexpr auto kHealGiveUp = std::chrono::seconds(60);
// A member unheard for longer (4 heartbeats) is left out of a re-placement.
constexpr auto kHeardWithin = std::chrono::milliseconds(1000);

struct Worker::Impl {
    WorkerOptions options;
    cluster::Node &node;
    const cards::CardStore &cards;
    const plugin::Registry &plugins;
    std::shared_ptr<spdlog::logger> log = log::get("worker");

    struct Managed {
        state::Instance instance;
        state::ShardAssignment shard;
        std::string endpoint;
        std::unique_ptr<RunnerSupervisor> supervisor;
        int total_layers = 0;
        std::string last_reported_failure; // the runner's own "failed <message>" line
        std::string refused;               // the runner's "refused <arithmetic>" line
        std::string pipeline_endpoint;     // rank 0's hub, once bound
        std::string request_endpoint;      // rank 0's requests socket for other nodes' APIs
        // The newest status queued for the master and when: a new master's
        // session starts without runners, so it is sent again (rereport_missing).
        std::optional<RunnerStatus> last_status;
        std::chrono::steady_clock::time_point last_queued{};
    };
    // An instance lost to a failure that this node (as master) re-places.
    struct Healing {
        std::chrono::steady_clock::time_point first_seen, next_try;
    };
    // A delete to submit (retried until done). failed: the instance broke and
    // may be re-placed (DeleteInstance::failed).
    struct PendingDelete {
        std::string instance_id, reason;
        bool failed = false;
    };

    mutable std::mutex mutex;
    std::condition_variable wake;
    bool stopping = false;
    bool state_dirty = false;
    state::State latest;                          // the newest State the listener saw
    std::map<std::string, Managed> managed;       // by instance id
    std::deque<RunnerStatus> reports;             // to submit, in order
    std::vector<PendingDelete> deletes;
    std::vector<std::pair<std::string, std::string>> replaces; // (instance, refusal): re-place one node wider
    std::vector<std::string> to_place;
    std::map<std::string, Healing> healing;       // by old instance id (worker thread only)
    std::thread thread;

    Impl(WorkerOptions o, cluster::Node &n, const cards::CardStore &c, const plugin::Registry &p)
        : options(std::move(o)), node(n), cards(c), plugins(p) {
        if (options.runner_executable.empty()) options.runner_executable = runner_executable_default();
    }

    // Called from supervisor monitor threads: queue, the worker thread submits.
    void queue_report(RunnerStatus st) {
        std::lock_guard lk(mutex);
        if (auto it = managed.find(st.instance_id); it != managed.end()) {
            it->second.last_status = st;
            it->second.last_queued = std::chrono::steady_clock::now();
        }
        // Coalesce a run of Loading progress lines of one runner into the newest.
        if (!reports.empty() && reports.back().runner_id == st.runner_id && reports.back().phase == SPhase::Loading &&
            st.phase == SPhase::Loading)
            reports.back() = st;
        else
            reports.push_back(std::move(st));
        wake.notify_all();
    }

    RunnerStatus status_of(const Managed &m, SPhase phase) const {
        RunnerStatus st;
        st.runner_id = Worker::runner_id(m.instance.id, m.shard.rank);
        st.instance_id = m.instance.id;
        st.node_id = options.node_id;
        st.phase = phase;
        st.total_layers = m.total_layers;
        st.pipeline_endpoint = m.pipeline_endpoint;
        st.request_endpoint = m.request_endpoint;
        return st;
    }

    RunnerLaunch resolve(const state::Instance &inst, const state::ShardAssignment &shard, int &total_layers) const {
        const auto card = cards.find(inst.model_id);
        if (!card) throw LaunchError("no model card for " + inst.model_id + " on node " + options.node_id);
        if (!card->source.is_local())
            throw LaunchError("model " + inst.model_id + " comes from Hugging Face (" + card->source.hf_repo +
                              "); downloading is not supported yet: give the card a source.path");
        std::error_code ec;
        if (!std::filesystem::is_regular_file(card->source.path, ec))
            throw LaunchError("model file " + card->source.path.string() + " of " + inst.model_id + " does not exist");
        RunnerLaunch l;
        l.model_path = card->source.path.string();
        l.endpoint = Worker::endpoint_for(options.data_dir, inst.id, shard.rank);
        total_layers = int(card->n_layers);
        if (!shard.backend.empty()) {
            l.backend = shard.backend;
        } else {
            const auto have = plugins.backend_tags();
            std::vector<std::string> wanted = card->placement.backend_preference;
            for (const auto &t : card->placement.compatible_backends)
                if (std::find(wanted.begin(), wanted.end(), t) == wanted.end()) wanted.push_back(t);
            for (const auto &t : wanted)
                if (std::find(have.begin(), have.end(), t) != have.end()) {
                    // A preference outside compatible_backends is not allowed to run it.
                    const auto &ok = card->placement.compatible_backends;
                    if (ok.empty() || std::find(ok.begin(), ok.end(), t) != ok.end()) {
                        l.backend = t;
                        break;
                    }
                }
            if (l.backend.empty())
                throw LaunchError("no plugin on node " + options.node_id + " serves a backend of " + inst.model_id + " " +
                                  join(card->placement.compatible_backends) + "; this node has " + join(have));
        }
        int64_t ctx = card->context_length;
        if (card->placement.max_context_tokens && (ctx == 0 || *card->placement.max_context_tokens < ctx))
            ctx = *card->placement.max_context_tokens;
        if (inst.context_token_limit > 0) ctx = inst.context_token_limit;
        l.context_tokens = ctx;
        if (card->runtime.chat_template) {
            const auto file = options.data_dir / "runners" / (inst.id + ".chat_template.jinja");
            write_runner_file(file, *card->runtime.chat_template);
            l.chat_template_file = file.string();
        }
        return l;
    }

    // Rank 0's hub address for the other ranks of a pipeline ("" until it is bound).
    std::string hub_of(const state::State &s, const state::Instance &inst) const {
        auto it = s.runners.find(Worker::runner_id(inst.id, 0));
        if (it == s.runners.end() || it->second.pipeline_endpoint.empty()) return "";
        return Worker::reachable(node.view(), it->second.node_id, it->second.pipeline_endpoint);
    }

    SpawnSpec spawn_spec(const RunnerLaunch &l, const state::Instance &inst, const state::ShardAssignment &shard,
                         const std::string &pipeline_address) const {
        SpawnSpec s;
        s.executable = options.runner_executable.string();
        auto &a = s.args;
        a = {"--model", l.model_path, "--backend", l.backend};
        for (const auto &d : options.plugin_dirs) a.insert(a.end(), {"--plugin-dir", d.string()});
        a.insert(a.end(), {"--endpoint", l.endpoint, "--instance-id", inst.id});
        if (l.context_tokens > 0) a.insert(a.end(), {"--ctx", std::to_string(l.context_tokens)});
        if (options.runner_threads > 0) a.insert(a.end(), {"--threads", std::to_string(options.runner_threads)});
        if (l.chat_template_file) a.insert(a.end(), {"--chat-template-file", *l.chat_template_file});
        if (shard.world_size > 1)
            a.insert(a.end(), {"--first-layer", std::to_string(shard.first_layer), "--last-layer",
                               std::to_string(shard.last_layer), "--rank", std::to_string(shard.rank), "--world-size",
                               std::to_string(shard.world_size)});
        if (shard.world_size > 1)
            a.insert(a.end(), {shard.rank == 0 ? "--pipeline-listen" : "--pipeline-hub", pipeline_address});
        // Rank 0 also serves the APIs of other nodes, so a client may use any node.
        if (shard.rank == 0) a.insert(a.end(), {"--request-listen", "tcp://" + options.listen_host + ":*"});
        if (!options.cluster_secret.empty()) s.env.push_back("SKULK_CLUSTER_SECRET=" + options.cluster_secret);
        return s;
    }

    // Starts a runner for a shard that appeared; or reports why it cannot.
    // pipeline_address: rank 0 binds its hub there (tcp://HOST:*); other ranks connect to it.
    void start_shard(const state::Instance &inst, const state::ShardAssignment &shard, const std::string &pipeline_address) {
        Managed m;
        m.instance = inst;
        m.shard = shard;
        RunnerLaunch launch;
        try {
            const auto dir = options.data_dir / "runners";
            if (std::error_code ec; !std::filesystem::create_directories(dir, ec) && ec)
                throw WriteError("cannot create " + dir.string() + ": " + ec.message());
            if (::access(dir.c_str(), W_OK) != 0) throw WriteError(write_failure(dir, errno)); // a read-only mount
            launch = resolve(inst, shard, m.total_layers);
        } catch (const std::exception &e) {
            const bool keep = dynamic_cast<const WriteError *>(&e) != nullptr;
            log->error("instance {} ({}): cannot start a runner: {}{}", inst.id, inst.model_id, e.what(),
                       keep ? "; the instance stays, its runner Failed, until it is deleted (free the disk first)" : "");
            auto st = status_of(m, SPhase::Failed);
            st.error_message = e.what();
            std::lock_guard lk(mutex);
            reports.push_back(st);
            // A node's setup problem: re-placing would repeat it.
            if (!keep) deletes.push_back({inst.id, e.what(), false});
            managed.emplace(inst.id, std::move(m)); // remembered so it is not retried on every event
            return;
        }
        m.endpoint = launch.endpoint; // the runner replaces a stale socket file there

        SupervisorOptions so;
        so.name = "runner " + inst.id + "/r" + std::to_string(shard.rank);
        so.spawn = spawn_spec(launch, inst, shard, pipeline_address);
        so.restart_delay = options.restart_delay;
        so.final_exit_code = 3; // the runner refused its shard (host/runner/shard_fit.hpp)
        // A pipeline rank cannot rejoin the KV state of its peers: any failure ends the instance.
        if (shard.world_size > 1) so.max_failures = 1;
        const std::string id = inst.id;
        so.on_report = [this, id](const std::string &phase, const std::string &detail) { on_report(id, phase, detail); };
        so.on_phase = [this, id](RunnerPhase p, const std::string &detail) { on_phase(id, p, detail); };
        log->info("instance {} ({}): starting {} {}", inst.id, inst.model_id, so.spawn.executable, join(so.spawn.args));
        m.supervisor = std::make_unique<RunnerSupervisor>(std::move(so));
        RunnerSupervisor *sup = m.supervisor.get();
        {
            std::lock_guard lk(mutex);
            managed.emplace(inst.id, std::move(m));
        }
        sup->start();
    }

    void on_report(const std::string &instance_id, const std::string &phase, const std::string &detail) {
        std::unique_lock lk(mutex);
        auto it = managed.find(instance_id);
        if (it == managed.end()) return;
        auto &m = it->second;
        if (phase == "loading") {
            auto st = status_of(m, SPhase::Loading);
            parse_layers(detail, st.layers_loaded, st.total_layers);
            lk.unlock();
            queue_report(st);
        } else if (phase == "warming_up") {
            auto st = status_of(m, SPhase::WarmingUp);
            lk.unlock();
            queue_report(st);
        } else if (phase == "failed") {
            m.last_reported_failure = detail;
            log->warn("runner {} reports failure: {}", instance_id, detail);
        } else if (phase == "refused") {
            m.refused = detail;
            log->warn("runner {} refuses its shard: {}", instance_id, detail);
        } else if (phase == "pipeline_endpoint" || phase == "request_endpoint") {
            (phase == "pipeline_endpoint" ? m.pipeline_endpoint : m.request_endpoint) = detail;
            auto st = status_of(m, SPhase::Loading);
            lk.unlock();
            queue_report(st);
        }
    }

    void on_phase(const std::string &instance_id, RunnerPhase p, const std::string &detail) {
        std::unique_lock lk(mutex);
        auto it = managed.find(instance_id);
        if (it == managed.end()) return;
        auto &m = it->second;
        log->info("runner {}: {} ({})", instance_id, to_string(p), detail);
        std::optional<RunnerStatus> st;
        switch (p) {
        case RunnerPhase::starting:
        case RunnerPhase::restarting: st = status_of(m, SPhase::Loading); break;
        case RunnerPhase::ready: st = status_of(m, SPhase::Ready); break;
        case RunnerPhase::gave_up: {
            st = status_of(m, SPhase::Failed);
            st->error_message = detail;
            if (!m.last_reported_failure.empty()) st->error_message += " (runner said: " + m.last_reported_failure + ")";
            if (!m.refused.empty()) {
                st->error_message = "node " + options.node_id + " refused its shard: " + m.refused;
                replaces.emplace_back(instance_id, st->error_message);
            } else {
                // A pipeline rank's runner failing means the instance broke
                // (usually a peer's node died): it may be re-placed. A single
                // runner's crash loop is a problem of its own, not re-placed.
                deletes.push_back({instance_id, st->error_message, m.shard.world_size > 1});
            }
            break;
        }
        default: break; // stopping/stopped: the instance is going away
        }
        if (p == RunnerPhase::ready) st->layers_loaded = st->total_layers;
        lk.unlock();
        if (st) queue_report(*st);
    }

    void reconcile(const state::State &s) {
        // Instances gone (or no longer with a shard here): stop their runners.
        std::vector<std::unique_ptr<RunnerSupervisor>> to_stop;
        {
            std::lock_guard lk(mutex);
            for (auto it = managed.begin(); it != managed.end();) {
                auto inst = s.instances.find(it->first);
                if (inst == s.instances.end() || !inst->second.on_node(options.node_id)) {
                    if (it->second.supervisor) to_stop.push_back(std::move(it->second.supervisor));
                    log->info("instance {} is gone: stopping its runner", it->first);
                    it = managed.erase(it);
                } else {
                    ++it;
                }
            }
        }
        for (auto &sup : to_stop) {
            const auto r = sup->stop();
            log->info("runner stopped: {} in {} ms", to_string(r.method), r.took.count());
        }
        for (const auto &[id, inst] : s.instances) {
            {
                std::lock_guard lk(mutex);
                if (managed.count(id)) continue;
            }
            for (const auto &shard : inst.shards)
                if (shard.node_id == options.node_id) {
                    std::string address;
                    // Where the cluster binds: other nodes reach us there (every interface by default).
                    if (shard.world_size > 1 && shard.rank == 0) address = "tcp://" + options.listen_host + ":*";
                    if (shard.world_size > 1 && shard.rank > 0) {
                        address = hub_of(s, inst);
                        if (address.empty()) break; // rank 0 has not bound its hub yet: a later State has it
                    }
                    start_shard(inst, shard, address);
                    break; // one shard of an instance per node
                }
        }
    }

    void submit_pending() {
        std::deque<RunnerStatus> rs;
        std::vector<PendingDelete> ds;
        std::vector<std::pair<std::string, std::string>> re;
        {
            std::lock_guard lk(mutex);
            rs.swap(reports);
            ds.swap(deletes);
            re.swap(replaces);
        }
        for (auto &st : rs) {
            const auto r = node.submit(state::ReportRunnerStatus{st}, std::chrono::seconds(5));
            if (!r.ok) log->debug("runner status {} of {} not recorded: {}", state::to_string(st.phase), st.runner_id, r.error);
        }
        std::vector<PendingDelete> retry;
        for (const auto &d : ds) {
            if (!node.view().state.instances.count(d.instance_id)) continue; // already gone (another rank's worker deleted it)
            log->error("giving instance {} up: {}", d.instance_id, d.reason);
            const auto r = node.submit(state::DeleteInstance{d.instance_id, d.failed, d.reason}, std::chrono::seconds(5));
            if (!r.ok) {
                // No master right now (an election after the node that died): try again.
                log->warn("could not delete instance {}: {}; retrying", d.instance_id, r.error);
                retry.push_back(d);
            }
        }
        for (const auto &[id, reason] : re) replace_wider(id, reason);
        if (!retry.empty()) {
            std::lock_guard lk(mutex);
            deletes.insert(deletes.end(), retry.begin(), retry.end());
        }
    }

    // A runner refused its shard: place the model again over one node more
    // (each rank then holds fewer layers); the old instance goes first, so
    // when several ranks refuse at once only the first re-places it.
    void replace_wider(const std::string &instance_id, const std::string &reason) {
        const auto view = node.view();
        auto it = view.state.instances.find(instance_id);
        if (it == view.state.instances.end()) return;
        const state::Instance old = it->second;
        const auto del = node.submit(state::DeleteInstance{instance_id, false, {}}, std::chrono::seconds(5));
        if (!del.ok) {
            log->warn("could not delete refused instance {}: {}", instance_id, del.error);
            return;
        }
        placement::Request req;
        req.sharding = old.sharding;
        req.min_nodes = int(old.shards.size()) + 1;
        const placing::Placed p = place_planned(old.model_id, req, old.self_heal);
        if (p.ok())
            log->warn("instance {} of {}: {}; re-placed over {} nodes as {}", instance_id, old.model_id, reason,
                      p.instance.shards.size(), p.instance_id);
        else
            log->error("instance {} of {} given up: {}; no placement over {} or more nodes: {}", instance_id,
                       old.model_id, reason, req.min_nodes, p.message);
    }

    // The one placement path (placing::place: card -> facts -> plan ->
    // command -> submit). replaces: the State::replacing entry this
    // placement ends ("" for a new one).
    placing::Placed place_planned(const std::string &model_id, const placement::Request &req, bool self_heal = true,
                                  const std::string &replaces = {}) {
        placing::Request r;
        r.model_id = model_id;
        r.plan = req;
        r.self_heal = self_heal;
        r.replaces = replaces;
        return placing::place(node, cards, r);
    }
    // Worth asking again later: some telemetry is missing, or no master answered.
    static bool retry_later(const placing::Placed &p) {
        return p.failure == placing::Failure::info_pending || p.failure == placing::Failure::unavailable;
    }

    void place_pending(const state::State &s) {
        if (to_place.empty() || s.master_node_id.empty() || !s.nodes.count(options.node_id)) return;
        // On this node, through the planner like POST /place_instance: the
        // same memory admission, backend choice and context limit.
        placement::Request req;
        for (const auto &[id, _] : s.nodes)
            if (id != options.node_id) req.excluded.insert(id);
        for (auto it = to_place.begin(); it != to_place.end();) {
            // Node ids are lasting: a restarted lone node carries its
            // instances of before over (resumed); placing again would pile
            // up copies with every restart.
            const bool here = std::any_of(s.instances.begin(), s.instances.end(), [&](const auto &kv) {
                return kv.second.model_id == *it && kv.second.on_node(options.node_id);
            });
            if (here) {
                log->info("--place {}: already placed on this node (carried over); not placed again", *it);
                it = to_place.erase(it);
                continue;
            }
            const placing::Placed p = place_planned(*it, req);
            if (p.ok()) {
                log->info("placed {} (--place): instance {}", *it, p.instance_id);
                it = to_place.erase(it);
            } else if (retry_later(p)) {
                log->debug("--place {}: {}; retrying", *it, p.message);
                ++it;
            } else {
                log->error("--place {}: cannot place it on this node: {}", *it, p.message);
                it = to_place.erase(it);
            }
        }
    }

    // A new master's session starts without runners (SessionStarted), and a
    // status can be lost while no master answers: every live runner whose
    // status the State lacks is reported again (its newest status; the
    // master's ReportRunnerStatus is idempotent), at most once a second each.
    void rereport_missing(const state::State &s) {
        if (s.master_node_id.empty()) return;
        const auto now = std::chrono::steady_clock::now();
        std::vector<RunnerStatus> again;
        {
            std::lock_guard lk(mutex);
            for (auto &[id, m] : managed) {
                if (!m.supervisor || !m.last_status || !s.instances.count(id)) continue;
                if (s.runners.count(m.last_status->runner_id) || now - m.last_queued < kRereportEvery) continue;
                again.push_back(*m.last_status);
            }
        }
        for (auto &st : again) {
            log->info("runner {} is not in term {}'s state: reporting {} again", st.runner_id, s.term, state::to_string(st.phase));
            queue_report(std::move(st));
        }
    }

    // Self-healing, on the master's node only (so one node does it; the
    // master also refuses a second PlaceInstance for the same entry): every
    // instance in State::replacing is planned again on the members still
    // heard and placed, or given up when they cannot hold it.
    void heal_pending(const state::State &s) {
        std::erase_if(healing, [&](const auto &kv) { return !s.replacing.count(kv.first); });
        if (s.replacing.empty() || s.master_node_id != options.node_id) return;
        const auto now = std::chrono::steady_clock::now();
        for (const auto &[id, old] : s.replacing) {
            auto [h, fresh] = healing.try_emplace(id, Healing{now, now + kHealSettle});
            if (fresh) log->warn("instance {} of {} was lost; placing {} again on the surviving nodes", id, old.model_id, old.model_id);
            if (now < h->second.next_try) continue;
            h->second.next_try = now + kHealRetry;
            heal_one(old, now - h->second.first_seen >= kHealGiveUp);
        }
    }

    void heal_one(const state::Instance &old, bool last_try) {
        placement::Request req;
        req.sharding = old.sharding;
        req.excluded = unheard_members();
        const placing::Placed p = place_planned(old.model_id, req, old.self_heal, old.id);
        if (p.ok()) {
            log->warn("instance {} of {} re-placed over {} node(s) as {}", old.id, old.model_id, p.instance.shards.size(),
                      p.instance_id);
            return;
        }
        if (retry_later(p) && !last_try) {
            log->debug("re-placing {}: {}; retrying", old.id, p.message);
            return;
        }
        log->error("instance {} of {} cannot be re-placed: {}", old.id, old.model_id, p.message);
        const auto r = node.submit(state::DeleteInstance{old.id, false, "no placement on the surviving nodes: " + p.message},
                                   std::chrono::seconds(5));
        if (!r.ok) log->warn("could not give the re-placement of {} up: {}; retrying", old.id, r.error);
    }

    // Members this node has not heard for a moment: a dead node stays a
    // member until its time-out, but must not get a shard.
    std::set<std::string> unheard_members() const {
        const auto v = node.view();
        const auto now = std::chrono::system_clock::now();
        std::set<std::string> out;
        for (const auto &[id, _] : v.state.nodes) {
            if (id == options.node_id) continue;
            bool heard = false;
            for (const auto &p : v.peers)
                if (p.node_id == id && p.alive && now - p.last_heard < kHeardWithin) heard = true;
            if (!heard) out.insert(id);
        }
        return out;
    }

    void run() {
        for (;;) {
            state::State s;
            bool dirty = false;
            {
                std::unique_lock lk(mutex);
                wake.wait_for(lk, std::chrono::milliseconds(500), [&] {
                    return stopping || state_dirty || !reports.empty() || !deletes.empty() || !replaces.empty();
                });
                if (stopping) break;
                dirty = state_dirty;
                state_dirty = false;
                s = latest;
            }
            if (dirty) reconcile(s);
            rereport_missing(s);
            submit_pending();
            place_pending(s);
            heal_pending(s);
        }
        // Stop every runner: the stop chain of each, one after another.
        std::vector<std::unique_ptr<RunnerSupervisor>> all;
        {
            std::lock_guard lk(mutex);
            for (auto &[id, m] : managed)
                if (m.supervisor) all.push_back(std::move(m.supervisor));
            managed.clear();
        }
        for (auto &sup : all) sup->stop();
    }
};

Worker::Worker(WorkerOptions options, cluster::Node &node, const cards::CardStore &cards, const plugin::Registry &plugins)
    : impl_(std::make_unique<Impl>(std::move(options), node, cards, plugins)) {}

Worker::~Worker() { stop(); }

void Worker::attach() {
    impl_->node.add_listener([impl = impl_.get()](const state::State &s, const state::Event *) {
        std::lock_guard lk(impl->mutex);
        impl->latest = s;
        impl->state_dirty = true;
        impl->wake.notify_all();
    });
}

void Worker::start() {
    impl_->thread = std::thread([this] { impl_->run(); });
}

void Worker::stop() {
    {
        std::lock_guard lk(impl_->mutex);
        impl_->stopping = true;
        impl_->wake.notify_all();
    }
    if (impl_->thread.joinable()) impl_->thread.join();
}

void Worker::place_at_startup(std::vector<std::string> model_ids) {
    std::lock_guard lk(impl_->mutex);
    for (auto &m : model_ids) impl_->to_place.push_back(std::move(m));
    impl_->wake.notify_all();
}

namespace {
template <class M> LocalRunner view_of(const std::string &id, const M &m) {
    LocalRunner r;
    r.instance_id = id;
    r.model_id = m.instance.model_id;
    r.rank = m.shard.rank;
    r.endpoint = m.endpoint;
    if (m.supervisor) {
        r.phase = m.supervisor->phase();
        r.pid = m.supervisor->pid();
        r.spawn_count = m.supervisor->spawn_count();
        r.give_up_reason = m.supervisor->give_up_reason();
    } else {
        r.phase = RunnerPhase::gave_up;
    }
    return r;
}
} // namespace

std::optional<LocalRunner> Worker::rank0_runner(const std::string &instance_id) const {
    std::lock_guard lk(impl_->mutex);
    auto it = impl_->managed.find(instance_id);
    if (it == impl_->managed.end() || it->second.shard.rank != 0) return std::nullopt;
    return view_of(it->first, it->second);
}

std::vector<LocalRunner> Worker::runners() const {
    std::lock_guard lk(impl_->mutex);
    std::vector<LocalRunner> out;
    for (const auto &[id, m] : impl_->managed) out.push_back(view_of(id, m));
    return out;
}

} // namespace skulk::worker
