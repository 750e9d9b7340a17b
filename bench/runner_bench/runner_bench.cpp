// runner_bench: how fast skulk-runner decodes compared with skulk-generate.
//   runner_bench [--model F] [--threads N] [-n TOKENS] [--streams 1,8,32,64] [--ctx 2048]
// Prints skulk-generate's decode tok/s, then for each concurrency the
// runner's per-stream decode tok/s (tokens after the first / time from the
// first delta to done, as skulk-generate counts) and aggregate tok/s
// (all completion tokens / wall time from send to the last done), and that
// aggregate as a multiple of the first level's (batching's gain, same run).
// --ctx sizes the runner's KV cache (n_seq_max x ctx slots): lower it for
// big models at 64 streams. Each stream has its own connection to the
// runner's unix:// socket, as each request of the daemon's API threads does.
#include "common/unix_frames.hpp"
#include "gguf/gguf.hpp"
#include "tokenizer/vocab.hpp"

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <poll.h>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <vector>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace po = boost::program_options;
using json = nlohmann::json;
using clk = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

std::string shell_quote(const std::string &s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

double generate_decode_tps(const fs::path &bin, const std::string &model, int threads, int n, int n_ctx,
                           const std::string &prompt) {
    const std::string cmd = shell_quote((bin / "skulk-generate").string()) + " --plugin-dir " +
                            shell_quote((bin / "plugins").string()) + " --model " + shell_quote(model) +
                            " --greedy --ignore-eos --json --ctx " + std::to_string(n_ctx) + " --threads " + std::to_string(threads) + " -n " +
                            std::to_string(n) + " --prompt " + shell_quote(prompt) + " 2>/dev/null";
    FILE *f = popen(cmd.c_str(), "r");
    std::string out;
    char buf[4096];
    for (size_t k; f && (k = fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, k);
    if (!f || pclose(f) != 0) throw std::runtime_error("skulk-generate failed: " + out);
    return json::parse(out).at("decode_tokens_per_s").get<double>();
}

// One stream's connection to the runner's unix:// socket, as each request
// of the daemon's API threads has one.
struct Stream {
    int fd = -1;
    skulk::unix_frames::FrameReader in;
    clk::time_point first, done;
    int tokens = 0;
    bool ended = false;
};

// Writes one whole frame (blocking up to ~1 s a round while the runner reads).
bool send_frame(int fd, const std::string &payload) {
    std::string out;
    skulk::unix_frames::append_frame(out, payload);
    while (skulk::unix_frames::write_some(fd, out) && !out.empty()) {
        pollfd p{fd, POLLOUT, 0};
        if (::poll(&p, 1, 1000) <= 0) return false;
    }
    return out.empty();
}

} // namespace

int main(int argc, char **argv) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    const fs::path bin = fs::canonical("/proc/self/exe").parent_path();
    std::string model = (bin.parent_path().parent_path() / "cards" / "models" / "stories260K.gguf").string();
    std::string streams_flag = "1,8,32,64";
    int threads = 2, n = 256, n_ctx = 2048;
    po::options_description desc("runner_bench");
    desc.add_options()("help,h", "help")("model", po::value(&model), "GGUF model")(
        "threads", po::value(&threads), "engine threads (both tools)")("n,n", po::value(&n), "tokens per stream")(
        "streams", po::value(&streams_flag), "concurrency levels, comma-separated")(
        "ctx", po::value(&n_ctx), "runner context length (per sequence)");
    po::variables_map vm;
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
    if (vm.count("help")) {
        std::cout << desc;
        return 0;
    }
    std::vector<int> levels;
    std::stringstream ss(streams_flag);
    for (std::string s; std::getline(ss, s, ',');) levels.push_back(std::stoi(s));
    int max_level = 1;
    for (int l : levels) max_level = std::max(max_level, l);

    const std::string prompt = "Once upon a time";
    const auto file = skulk::model::GgufFile::open(model);
    const auto vocab = skulk::model::Vocab::from_gguf(*file);
    json bias = json::object();
    for (int32_t id = 0; id < static_cast<int32_t>(vocab->n_tokens()); ++id)
        if (vocab->is_eog(id)) bias[std::to_string(id)] = -100.0; // run for exactly n tokens

    const double gen_tps = generate_decode_tps(bin, model, threads, n, n_ctx, prompt);
    std::printf("model %s, %d threads, %d tokens per stream\n", fs::path(model).filename().c_str(), threads, n);
    std::printf("skulk-generate decode: %.1f tok/s\n", gen_tps);

    char dir[] = "/tmp/runner-bench-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    const std::string path = std::string(dir) + "/r0.sock";
    const std::string endpoint = "unix://" + path; // what the worker gives a runner
    const pid_t pid = fork();
    if (pid == 0) {
        const std::string exe = (bin / "skulk-runner").string(), plugins = (bin / "plugins").string();
        const std::string th = std::to_string(threads), seqs = std::to_string(max_level), ctx_s = std::to_string(n_ctx);
        const int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 2);
        execl(exe.c_str(), exe.c_str(), "--model", model.c_str(), "--backend", "cpu_blas-cpu", "--plugin-dir",
              plugins.c_str(), "--endpoint", endpoint.c_str(), "--instance-id", "bench", "--ctx", ctx_s.c_str(), "--threads",
              th.c_str(), "--n-seq-max", seqs.c_str(), "--verbose=-1", static_cast<char *>(nullptr));
        _exit(127);
    }
    // Ready: ping until the runner says so.
    for (bool ready = false; !ready;) {
        if (waitpid(pid, nullptr, WNOHANG) == pid) {
            std::fprintf(stderr, "runner_bench: skulk-runner exited before it was ready\n");
            return 1;
        }
        Stream probe;
        probe.fd = skulk::unix_frames::connect_to(path);
        if (probe.fd < 0 || !send_frame(probe.fd, R"({"v":1,"op":"ping"})")) {
            if (probe.fd >= 0) ::close(probe.fd);
            std::this_thread::sleep_for(std::chrono::milliseconds(100)); // not bound yet
            continue;
        }
        std::string_view frame;
        for (int tries = 0; tries < 20 && !probe.in.next(frame); ++tries) {
            pollfd p{probe.fd, POLLIN, 0};
            if (::poll(&p, 1, 100) > 0 && probe.in.fill(probe.fd) == skulk::unix_frames::FrameReader::Fill::closed) break;
        }
        if (!frame.empty()) ready = json::parse(frame).value("ready", false);
        ::close(probe.fd);
    }
    double first_aggregate = 0;
    for (int level : levels) {
        std::vector<Stream> streams(level);
        const auto t0 = clk::now();
        for (int i = 0; i < level; ++i) {
            const std::string id = "b" + std::to_string(level) + "-" + std::to_string(i);
            json req = {{"kind", "completion"}, {"model", "m"},  {"prompt", prompt},  {"stream", true},
                        {"stream_include_usage", false}, {"max_tokens", n}, {"temperature", 0}, {"logit_bias", bias}};
            streams[i].fd = skulk::unix_frames::connect_to(path);
            if (streams[i].fd < 0 ||
                !send_frame(streams[i].fd, json{{"v", 1}, {"op", "generate"}, {"command_id", id}, {"request", req}}.dump())) {
                std::fprintf(stderr, "runner_bench: cannot send a request to %s\n", endpoint.c_str());
                return 1;
            }
        }
        std::vector<pollfd> fds;
        for (int open = level; open > 0;) {
            fds.clear();
            for (const Stream &s : streams) fds.push_back({s.ended ? -1 : s.fd, POLLIN, 0});
            if (::poll(fds.data(), fds.size(), 10000) <= 0) break; // the runner hangs: the failed streams say so
            const auto now = clk::now();
            for (size_t i = 0; i < streams.size(); ++i) {
                Stream &s = streams[i];
                if (!fds[i].revents) continue;
                const bool closed = s.in.fill(s.fd) == skulk::unix_frames::FrameReader::Fill::closed;
                std::string_view frame;
                while (!s.ended && s.in.next(frame)) {
                    const json e = json::parse(frame);
                    const std::string type = e.value("type", "");
                    if (type == "delta" && s.first == clk::time_point{}) s.first = now;
                    if (type == "done" || type == "error") {
                        s.done = now;
                        s.ended = true;
                        s.tokens = type == "done" ? e.at("usage").at("completion_tokens").get<int>() : 0;
                    }
                }
                if (closed && !s.ended) s.ended = true; // the runner went away: no tokens
                if (s.ended) {
                    ::close(s.fd);
                    --open;
                }
            }
        }
        const auto t1 = clk::now();
        double per_stream = 0;
        int total = 0, timed = 0, failed = 0;
        for (const Stream &s : streams) {
            total += s.tokens;
            failed += s.tokens == 0;
            // a stream that failed, or whose deltas all arrived at once, has no decode rate
            const double secs = std::chrono::duration<double>(s.done - s.first).count();
            if (s.tokens < 2 || s.first == clk::time_point{} || secs <= 0) continue;
            per_stream += (s.tokens - 1) / secs;
            ++timed;
        }
        const double aggregate = total / std::chrono::duration<double>(t1 - t0).count();
        if (first_aggregate == 0) first_aggregate = aggregate;
        std::printf("runner %2d stream(s): per-stream decode %.1f tok/s, aggregate %.1f tok/s (%.2fx the first level)%s\n",
                    level, timed ? per_stream / timed : 0.0, aggregate, aggregate / first_aggregate,
                    failed ? (" [" + std::to_string(failed) + " failed]").c_str() : "");
    }
    kill(pid, SIGTERM);
    waitpid(pid, nullptr, 0);
    fs::remove_all(dir);
    return 0;
}
