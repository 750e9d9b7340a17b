// The skulk-runner command line (built by the worker; see host/runner/README.md):
//   skulk-runner --model F --backend TAG --plugin-dir D... --endpoint E
//                --instance-id ID [--ctx N] [--threads N] [--n-seq-max N]
//                [--prefill-chunk N] [--keepalive-ms N] [--chat-template-file F]
//                [--first-layer A --last-layer B --rank R --world-size W
//                 (--pipeline-listen tcp://HOST:* | --pipeline-hub tcp://HOST:PORT)]
#pragma once

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace skulk::runner {

// A bad command line; the message names the flag (exit code 2).
struct UsageError : std::invalid_argument {
    using invalid_argument::invalid_argument;
};

struct RunnerOptions {
    std::filesystem::path model;
    std::string backend;
    std::vector<std::filesystem::path> plugin_dirs;
    std::string endpoint;
    std::string instance_id;
    uint32_t ctx = 0;            // 0: the model's training context, at most 4096
    uint32_t threads = 0;        // 0: all cores
    uint32_t n_seq_max = 64;     // concurrent sequences (KV slots)
    uint32_t prefill_chunk = 256; // most prompt tokens per step
    uint32_t keepalive_ms = 2000; // queued/prefilling requests hear from us this often
    std::filesystem::path chat_template_file; // empty: the GGUF's template
    // Pipeline placement: this rank's layers. Rank 0 binds a hub at
    // pipeline_listen; every other rank connects to rank 0's pipeline_hub.
    int32_t first_layer = 0, last_layer = -1;
    uint32_t rank = 0, world_size = 1;
    std::string pipeline_listen, pipeline_hub;
    // Rank 0: also take requests from API nodes elsewhere at this address (tcp://HOST:*).
    std::string request_listen;
    int verbosity = 0;
};

// Returns false when --help was printed (exit 0). Throws UsageError.
bool parse_runner_args(int argc, const char *const *argv, RunnerOptions &out);

} // namespace skulk::runner
