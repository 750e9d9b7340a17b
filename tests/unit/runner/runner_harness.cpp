#include "unit/runner/runner_harness.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <thread>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <poll.h>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

namespace skulk::test {

using namespace std::chrono;

std::filesystem::path build_dir() {
    const char *b = std::getenv("SKULK_BUILD_DIR");
    return b && *b ? std::filesystem::path(b) : std::filesystem::path(SKULK_RUNNER_TEST_BUILD_DIR);
}
std::filesystem::path source_dir() {
    const char *s = std::getenv("SKULK_SOURCE_DIR");
    return s && *s ? std::filesystem::path(s) : std::filesystem::path(SKULK_RUNNER_TEST_SOURCE_DIR);
}
std::filesystem::path stories_model() { return source_dir() / "cards" / "models" / "stories260K.gguf"; }

RunnerProcess::RunnerProcess(std::vector<std::string> extra, int ctx) {
    char tmpl[] = "/tmp/skulk-runner-test-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    endpoint_ = "ipc://" + (dir_ / "runners" / "inst-r0.sock").string();
    std::vector<std::string> args = {(build_dir() / "bin" / "skulk-runner").string(),
                                     "--model", stories_model().string(),
                                     "--backend", "cpu_blas-cpu",
                                     "--plugin-dir", (build_dir() / "bin" / "plugins").string(),
                                     "--endpoint", endpoint_,
                                     "--instance-id", "inst",
                                     "--threads", "1"};
    if (ctx > 0) args.insert(args.end(), {"--ctx", std::to_string(ctx)});
    for (size_t i = 0; i + 1 < extra.size(); i += 2) {
        auto it = std::find(args.begin(), args.end(), extra[i]);
        if (it != args.end()) *(it + 1) = extra[i + 1];
        else args.insert(args.end(), {extra[i], extra[i + 1]});
    }
    int in[2], st[2];
    if (pipe2(in, O_CLOEXEC) || pipe2(st, O_CLOEXEC)) throw std::runtime_error("pipe failed");
    const std::string log_path = (dir_ / "runner.log").string();
    pid_ = fork();
    if (pid_ == 0) {
        dup2(in[0], 0);
        dup2(st[1], 3);
        const int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(log, 1);
        dup2(log, 2);
        setenv("SKULK_STATUS_FD", "3", 1);
        std::vector<char *> argv;
        for (auto &a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        execv(argv[0], argv.data());
        _exit(127);
    }
    close(in[0]);
    close(st[1]);
    stdin_fd_ = in[1];
    status_fd_ = st[0];
}

RunnerProcess::~RunnerProcess() {
    if (pid_ > 0 && exit_code_ < 0) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
    }
    if (stdin_fd_ >= 0) close(stdin_fd_);
    if (status_fd_ >= 0) close(status_fd_);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
}

bool RunnerProcess::wait_status(const std::string &line, milliseconds deadline) {
    const auto until = steady_clock::now() + deadline;
    for (;;) {
        for (const auto &l : status_)
            if (l == line) return true;
        const auto left = duration_cast<milliseconds>(until - steady_clock::now()).count();
        if (left <= 0 || status_fd_ < 0) return false;
        pollfd p{status_fd_, POLLIN, 0};
        if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
        char buf[512];
        const ssize_t n = read(status_fd_, buf, sizeof buf);
        if (n <= 0) {
            close(status_fd_);
            status_fd_ = -1;
            continue;
        }
        status_buf_.append(buf, static_cast<size_t>(n));
        for (size_t nl; (nl = status_buf_.find('\n')) != std::string::npos; status_buf_.erase(0, nl + 1))
            status_.push_back(status_buf_.substr(0, nl));
    }
}

void RunnerProcess::send_stdin(const std::string &text) {
    if (::write(stdin_fd_, text.data(), text.size()) != static_cast<ssize_t>(text.size()))
        throw std::runtime_error("write to the runner's stdin failed");
}

void RunnerProcess::signal(int sig) { kill(pid_, sig); }

int RunnerProcess::wait_exit(milliseconds deadline) {
    const auto until = steady_clock::now() + deadline;
    while (exit_code_ < 0) {
        int st = 0;
        const pid_t r = waitpid(pid_, &st, WNOHANG);
        if (r == pid_) {
            exit_code_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            break;
        }
        if (steady_clock::now() >= until) return -1;
        std::this_thread::sleep_for(milliseconds(5)); // polling waitpid with a deadline
    }
    return exit_code_;
}

std::string RunnerProcess::log() const {
    std::ifstream in(dir_ / "runner.log");
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

RunnerClient::RunnerClient(const std::string &endpoint) : dealer_(ctx_, zmq::socket_type::dealer) {
    dealer_.set(zmq::sockopt::linger, 0);
    dealer_.connect(endpoint);
}

void RunnerClient::send(const nlohmann::json &message) { dealer_.send(zmq::buffer(message.dump()), zmq::send_flags::none); }

void RunnerClient::send_raw(const std::string &frame) { dealer_.send(zmq::buffer(frame), zmq::send_flags::none); }

void RunnerClient::generate(const std::string &id, const nlohmann::json &request) {
    send({{"v", 1}, {"op", "generate"}, {"command_id", id}, {"request", request}});
}

void RunnerClient::cancel(const std::string &id) { send({{"v", 1}, {"op", "cancel"}, {"command_id", id}}); }

bool RunnerClient::receive_one(milliseconds timeout) {
    zmq::pollitem_t item{dealer_.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, timeout) <= 0) return false;
    zmq::message_t m;
    if (!dealer_.recv(m, zmq::recv_flags::dontwait)) return false;
    Event e{nlohmann::json::parse(m.to_string_view()), steady_clock::now(), ++received_};
    EXPECT_EQ(e.body.value("v", 0), 1) << e.body.dump();
    const std::string id = e.body.value("command_id", "");
    const std::string type = e.body.value("type", "");
    if (id.empty() || type == "pong") {
        unrouted_.push_back(e.body);
        return true;
    }
    Outcome &o = outcomes_[id];
    EXPECT_TRUE(o.terminal.empty()) << "event after the end of " << id << ": " << e.body.dump();
    if (type == "start") {
        EXPECT_FALSE(o.started) << "second start for " << id;
        o.started = true;
    } else if (type == "delta") {
        EXPECT_TRUE(o.started) << "delta before start for " << id;
        o.text += e.body.at("text").get<std::string>();
    } else if (type == "done" || type == "error") {
        o.terminal = type;
        o.last = e.body;
    }
    o.events.push_back(std::move(e));
    return true;
}

void RunnerClient::wait_all(const std::vector<std::string> &ids, milliseconds deadline) {
    const auto until = steady_clock::now() + deadline;
    auto all = [&] {
        for (const auto &id : ids)
            if (outcomes_[id].terminal.empty()) return false;
        return true;
    };
    while (!all() && steady_clock::now() < until) receive_one(milliseconds(100));
}

bool RunnerClient::wait_for(const std::string &id, const std::function<bool(const Outcome &)> &pred, milliseconds deadline) {
    const auto until = steady_clock::now() + deadline;
    while (!pred(outcomes_[id])) {
        if (steady_clock::now() >= until) return false;
        receive_one(milliseconds(100));
    }
    return true;
}

std::optional<nlohmann::json> RunnerClient::next(milliseconds deadline) {
    const auto until = steady_clock::now() + deadline;
    while (unrouted_.empty() && steady_clock::now() < until) receive_one(milliseconds(100));
    if (unrouted_.empty()) return std::nullopt;
    auto j = unrouted_.front();
    unrouted_.erase(unrouted_.begin());
    return j;
}

nlohmann::json completion(const std::string &prompt, int max_tokens, double temperature) {
    return {{"kind", "completion"}, {"model", "stories260k"}, {"prompt", prompt},          {"stream", true},
            {"stream_include_usage", false}, {"max_tokens", max_tokens}, {"temperature", temperature}};
}

std::string generate_greedy(const std::string &prompt, int n) {
    // Without --json skulk-generate streams prompt + continuation (through
    // the same StreamDecoder) and a newline on stdout.
    auto quote = [](const std::string &s) {
        std::string q = "'";
        for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
        return q + "'";
    };
    const std::string cmd = quote((build_dir() / "bin" / "skulk-generate").string()) + " --plugin-dir " +
                            quote((build_dir() / "bin" / "plugins").string()) + " --model " +
                            quote(stories_model().string()) + " --greedy --threads 1 --ctx 512 -n " +
                            std::to_string(n) + " --prompt " + quote(prompt) + " 2>/dev/null";
    FILE *f = popen(cmd.c_str(), "r");
    if (!f) throw std::runtime_error("popen skulk-generate failed");
    std::string out;
    char buf[4096];
    for (size_t k; (k = fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, k);
    const int st = pclose(f);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) throw std::runtime_error("skulk-generate failed: " + out);
    if (out.rfind(prompt, 0) != 0 || out.empty() || out.back() != '\n')
        throw std::runtime_error("skulk-generate output does not echo the prompt: " + out);
    return out.substr(prompt.size(), out.size() - prompt.size() - 1);
}

} // namespace skulk::test
