// Test harness for skulk-runner: a real runner process (status pipe on fd 3,
// stdin pipe, log file in a temp dir) and a ZeroMQ DEALER client that
// speaks the runner protocol and collects events per command_id.
#pragma once

#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>
#include <sys/types.h>

namespace skulk::test {

std::filesystem::path build_dir();
std::filesystem::path source_dir();
std::filesystem::path stories_model(); // cards/models/stories260K.gguf

// Deadlines of the runner tests: a runner Ready, a batch of requests done.
constexpr std::chrono::seconds kReady{30};
constexpr std::chrono::seconds kRun{60};

class RunnerProcess {
public:
    // Starts skulk-runner on the bundled model with an ipc endpoint in a
    // fresh temp dir; `extra` are more flag/value pairs (e.g.
    // {"--n-seq-max","2"}); a flag given by default is replaced. ctx <= 0:
    // no --ctx (the model's context).
    explicit RunnerProcess(std::vector<std::string> extra = {}, int ctx = 512);
    ~RunnerProcess();
    // Waits until the status fd says `line` (true) or the deadline passes.
    bool wait_status(const std::string &line, std::chrono::milliseconds deadline);
    const std::vector<std::string> &status_lines() const { return status_; }
    void send_stdin(const std::string &text);
    void signal(int sig);
    // The exit code (or 128+signal); -1 when it did not exit in time.
    int wait_exit(std::chrono::milliseconds deadline);
    std::string log() const;
    const std::string &endpoint() const { return endpoint_; }
    pid_t pid() const { return pid_; }

private:
    std::filesystem::path dir_;
    std::string endpoint_;
    pid_t pid_ = -1;
    int stdin_fd_ = -1, status_fd_ = -1;
    std::string status_buf_;
    std::vector<std::string> status_;
    int exit_code_ = -1;
};

struct Event {
    nlohmann::json body;
    std::chrono::steady_clock::time_point at;
    uint64_t seq = 0; // arrival order over every id on this client (one socket: the runner's send order)
};

struct Outcome {
    std::vector<Event> events;
    std::string text;          // the deltas joined
    std::string terminal;      // "done" or "error" ("" when none came)
    nlohmann::json last;       // the terminal event
    bool started = false;
};

class RunnerClient {
public:
    explicit RunnerClient(const std::string &endpoint);
    void send(const nlohmann::json &message);
    void send_raw(const std::string &frame);
    void generate(const std::string &command_id, const nlohmann::json &request);
    void cancel(const std::string &command_id);
    // Receives until every id has a terminal event (or the deadline).
    void wait_all(const std::vector<std::string> &ids, std::chrono::milliseconds deadline);
    // Receives until `pred` holds for the outcome of `id` (or the deadline).
    bool wait_for(const std::string &id, const std::function<bool(const Outcome &)> &pred,
                  std::chrono::milliseconds deadline);
    // The next message whatever its id (ping answers, id-less errors).
    std::optional<nlohmann::json> next(std::chrono::milliseconds deadline);
    Outcome &outcome(const std::string &id) { return outcomes_[id]; }

private:
    bool receive_one(std::chrono::milliseconds timeout);
    zmq::context_t ctx_;
    zmq::socket_t dealer_;
    std::map<std::string, Outcome> outcomes_;
    std::vector<nlohmann::json> unrouted_;
    uint64_t received_ = 0;
};

// A completion request as the API would send it.
nlohmann::json completion(const std::string &prompt, int max_tokens, double temperature = 0.0);

// skulk-generate --greedy on the bundled model: the continuation text.
std::string generate_greedy(const std::string &prompt, int n);

} // namespace skulk::test
