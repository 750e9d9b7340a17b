// The worker (DESIGN.md section 2): turns the replicated State into runner
// processes on this node. For every Instance with a shard here it starts one
// RunnerSupervisor running `skulk-runner`; it reports the runner's phases
// back to the master as ReportRunnerStatus commands (Loading, WarmingUp,
// Ready, Failed) so /state shows them; on InstanceDeleted it runs the stop
// chain; when the crash-loop breaker gives up it reports Failed with the
// reason and asks the master to delete the instance.
//
// Threads: the cluster listener only copies the State and wakes the worker
// thread (it runs inside the router loop). The worker thread reconciles and
// submits commands (submit() blocks on the master's answer, so never on the
// cluster thread or a supervisor's monitor thread).
#pragma once

#include "cards/card_store.hpp"
#include "cluster/node.hpp"
#include "plugin/registry.hpp"
#include "worker/supervisor.hpp"

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace skulk::worker {

struct WorkerOptions {
    std::string node_id;
    std::filesystem::path data_dir;                 // runners/<instance>-r<rank>.sock live under it
    std::vector<std::filesystem::path> plugin_dirs; // passed to every runner as --plugin-dir
    std::filesystem::path runner_executable;        // empty: runner_executable_default()
    int runner_threads = 0;                         // 0: the runner decides
    std::string cluster_secret;                     // given to runners (SKULK_CLUSTER_SECRET): their sockets speak CURVE
    std::string listen_host = "*";                  // runners' TCP sockets bind here (the cluster bind address)
    std::chrono::milliseconds restart_delay{200};
};

// $SKULK_RUNNER_BIN, else skulk-runner next to the running binary.
std::filesystem::path runner_executable_default();

// What the API needs to talk to a local runner of one instance.
struct LocalRunner {
    std::string instance_id;
    std::string model_id;
    int rank = 0;
    std::string endpoint;     // ZeroMQ endpoint of its ROUTER socket
    RunnerPhase phase = RunnerPhase::idle;
    pid_t pid = -1;
    int spawn_count = 0;      // changes on every (re)start: a client that saw another count lost its runner
    std::string give_up_reason;
};

// One shard's runner command line (docs: the runner's request protocol).
struct RunnerLaunch {
    std::string model_path;
    std::string backend;
    std::string endpoint;
    int64_t context_tokens = 0;
    std::optional<std::string> chat_template_file;
};

class Worker {
public:
    Worker(WorkerOptions options, cluster::Node &node, const cards::CardStore &cards, const plugin::Registry &plugins);
    ~Worker(); // stop()
    Worker(const Worker &) = delete;
    Worker &operator=(const Worker &) = delete;

    // Registers the cluster listener: call before node.start().
    void attach();
    void start();
    // Stops every runner (stop chain) and the worker thread.
    void stop();

    // The local rank-0 runner of `instance_id`, if this node runs one.
    std::optional<LocalRunner> rank0_runner(const std::string &instance_id) const;
    std::vector<LocalRunner> runners() const;

    // Submits PlaceInstance for each model once the node knows a master
    // (on the worker thread; failures are logged).
    void place_at_startup(std::vector<std::string> model_ids);

    // The runner_id used in ReportRunnerStatus for a shard.
    static std::string runner_id(const std::string &instance_id, int rank);
    // A runner's TCP address as another node reaches it: runners bind every
    // interface and report tcp://0.0.0.0:PORT, so the host is the one this
    // node reaches `node_id` at (its peer endpoint; the state's endpoint for
    // ourselves), and the port is the runner's.
    static std::string reachable(const cluster::View &view, const std::string &node_id, const std::string &endpoint);
    // The ipc endpoint of a shard's runner under `data_dir`.
    static std::string endpoint_for(const std::filesystem::path &data_dir, const std::string &instance_id, int rank);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace skulk::worker
