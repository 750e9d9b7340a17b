#include "runner/runner_options.hpp"

#include <boost/program_options.hpp>

#include <iostream>

namespace po = boost::program_options;

namespace skulk::runner {

bool parse_runner_args(int argc, const char *const *argv, RunnerOptions &o) {
    std::vector<std::string> plugin_dirs;
    std::string model, chat_template;
    int64_t keepalive = 2000, ctx = 0, threads = 0, n_seq_max = 64, prefill_chunk = 256, first = 0, last = -1, rank = 0, world = 1;
    po::options_description desc("skulk-runner: serves one model instance over ZeroMQ");
    // clang-format off
    desc.add_options()
        ("help,h", "show this help")
        ("model", po::value(&model)->required(), "GGUF model file")
        ("backend", po::value(&o.backend)->required(), "compute plugin backend tag (e.g. cpu_blas-cpu)")
        ("plugin-dir", po::value(&plugin_dirs)->composing(), "plugin directory (repeatable)")
        ("endpoint", po::value(&o.endpoint)->required(), "where this node's API threads connect: unix://PATH, or a ZeroMQ endpoint (ipc://... or tcp://...)")
        ("instance-id", po::value(&o.instance_id)->required(), "instance id (for logs)")
        ("ctx", po::value(&ctx), "context tokens per sequence (0/absent: the model's training context, at most 4096)")
        ("threads", po::value(&threads), "engine threads (0: all cores)")
        ("n-seq-max", po::value(&n_seq_max), "concurrent sequences (default 64)")
        ("prefill-chunk", po::value(&prefill_chunk), "most prompt tokens per engine step (default 256)")
        ("chat-template-file", po::value(&chat_template), "Jinja chat template overriding the GGUF's")
        ("keepalive-ms", po::value(&keepalive), "keepalive interval for queued/prefilling requests (default 2000)")
        ("first-layer", po::value(&first), "first layer of this rank (pipeline)")
        ("last-layer", po::value(&last), "last layer of this rank (pipeline; -1: the last)")
        ("rank", po::value(&rank), "pipeline rank")
        ("world-size", po::value(&world), "pipeline ranks")
        ("pipeline-listen", po::value(&o.pipeline_listen), "rank 0: where to bind the pipeline hub (tcp://HOST:*)")
        ("pipeline-hub", po::value(&o.pipeline_hub), "rank > 0: rank 0's pipeline hub (tcp://HOST:PORT)")
        ("request-listen", po::value(&o.request_listen), "rank 0: also serve API nodes elsewhere at this address (tcp://HOST:*)")
        ("verbose,v", po::value<int>(&o.verbosity)->implicit_value(1), "log verbosity");
    // clang-format on
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, desc), vm);
        if (vm.count("help")) {
            std::cout << desc << "\n";
            return false;
        }
        po::notify(vm);
    } catch (const po::error &e) {
        throw UsageError(e.what());
    }
    auto range = [](const char *flag, int64_t v, int64_t lo, int64_t hi) {
        if (v < lo || v > hi)
            throw UsageError(std::string("--") + flag + ": " + std::to_string(v) + " is outside " + std::to_string(lo) +
                             ".." + std::to_string(hi));
        return v;
    };
    o.ctx = static_cast<uint32_t>(range("ctx", ctx, 0, 1 << 24));
    o.keepalive_ms = static_cast<uint32_t>(range("keepalive-ms", keepalive, 10, 5000));
    o.threads = static_cast<uint32_t>(range("threads", threads, 0, 1024));
    o.n_seq_max = static_cast<uint32_t>(range("n-seq-max", n_seq_max, 1, 4096));
    o.prefill_chunk = static_cast<uint32_t>(range("prefill-chunk", prefill_chunk, 1, 65536));
    o.first_layer = static_cast<int32_t>(range("first-layer", first, 0, 1 << 16));
    o.last_layer = static_cast<int32_t>(range("last-layer", last, -1, 1 << 16));
    o.world_size = static_cast<uint32_t>(range("world-size", world, 1, 1024));
    o.rank = static_cast<uint32_t>(range("rank", rank, 0, o.world_size - 1));
    if (o.world_size > 1 && o.rank == 0 && o.pipeline_listen.empty())
        throw UsageError("--pipeline-listen: rank 0 of a pipeline needs the address to bind its hub");
    if (o.world_size > 1 && o.rank > 0 && o.pipeline_hub.empty())
        throw UsageError("--pipeline-hub: rank " + std::to_string(o.rank) + " needs rank 0's hub address");
    if (o.world_size == 1 && (o.first_layer != 0 || o.last_layer != -1))
        throw UsageError("--first-layer/--last-layer: a single runner (--world-size 1) runs every layer");
    if (o.backend.empty()) throw UsageError("--backend: empty tag");
    if (o.endpoint.empty()) throw UsageError("--endpoint: empty");
    o.model = model;
    if (!std::filesystem::is_regular_file(o.model)) throw UsageError("--model: '" + model + "' is not a readable file");
    if (!chat_template.empty()) {
        o.chat_template_file = chat_template;
        if (!std::filesystem::is_regular_file(o.chat_template_file))
            throw UsageError("--chat-template-file: '" + chat_template + "' is not a readable file");
    }
    for (const auto &d : plugin_dirs) o.plugin_dirs.emplace_back(d);
    return true;
}

} // namespace skulk::runner
