#include "api/runner_client.hpp"

#include <nlohmann/json.hpp>

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <random>

namespace skulk::api {
namespace {

// SAX reader of the top-level "type", "command_id" and "v"; everything else
// (the text of a delta, nested objects) is skipped without building values.
class HeadReader : public nlohmann::json_sax<nlohmann::json> {
public:
    explicit HeadReader(RunnerEventHead &h) : h_(h) {}
    bool null() override { return done_value(); }
    bool boolean(bool) override { return done_value(); }
    bool number_integer(number_integer_t v) override { return number(v); }
    bool number_unsigned(number_unsigned_t v) override { return number(int64_t(v)); }
    bool number_float(number_float_t, const string_t &) override { return done_value(); }
    bool string(string_t &v) override {
        if (depth_ == 1 && field_ == Field::type) h_.type.assign(v);
        else if (depth_ == 1 && field_ == Field::command_id) h_.command_id.assign(v);
        return done_value();
    }
    bool binary(binary_t &) override { return done_value(); }
    bool start_object(std::size_t) override { ++depth_; field_ = Field::none; return true; }
    bool key(string_t &k) override {
        if (depth_ == 1) field_ = k == "type" ? Field::type : k == "command_id" ? Field::command_id : k == "v" ? Field::v : Field::none;
        else field_ = Field::none;
        return true;
    }
    bool end_object() override { --depth_; field_ = Field::none; return true; }
    bool start_array(std::size_t) override { ++depth_; field_ = Field::none; return true; }
    bool end_array() override { --depth_; return true; }
    bool parse_error(std::size_t, const std::string &, const nlohmann::detail::exception &) override { return false; }

private:
    enum class Field { none, type, command_id, v };
    bool number(int64_t v) {
        if (depth_ == 1 && field_ == Field::v) h_.version = v;
        return done_value();
    }
    bool done_value() { field_ = Field::none; return true; }
    RunnerEventHead &h_;
    int depth_ = 0;
    Field field_ = Field::none;
};

} // namespace

bool read_event_head(std::string_view frame, RunnerEventHead &head) {
    head.clear();
    // Cheap shape check before the parse: events are JSON objects.
    size_t i = 0;
    while (i < frame.size() && (frame[i] == ' ' || frame[i] == '\n')) ++i;
    if (i == frame.size() || frame[i] != '{') return false;
    HeadReader reader(head);
    const bool ok = nlohmann::json::sax_parse(frame.begin(), frame.end(), &reader, nlohmann::json::input_format_t::json, true);
    return ok && !head.type.empty();
}

RunnerConnection::RunnerConnection(zmq::context_t &ctx, const std::string &endpoint,
                                   const std::optional<cluster::CurveKeys> &keys) {
    if (const std::string_view path = unix_frames::path_of(endpoint); !path.empty()) {
        unix_fd_ = unix_frames::connect_to(std::string(path));
        closed_ = unix_fd_ < 0; // send() then fails at once: the runner is not there
        return;
    }
    socket_ = zmq::socket_t(ctx, zmq::socket_type::dealer);
    socket_.set(zmq::sockopt::linger, 0);
    socket_.set(zmq::sockopt::sndtimeo, 1000);
    cluster::secure_client(socket_, keys);
    socket_.connect(endpoint);
}

RunnerConnection::~RunnerConnection() {
    if (unix_fd_ >= 0) ::close(unix_fd_);
}

bool RunnerConnection::send(std::string_view frame) {
    if (closed_) return false;
    if (unix_fd_ >= 0) {
        // What the socket does not take now goes out from receive(), as a
        // ZeroMQ send queue would: the runner reads only between its steps.
        unix_frames::append_frame(unix_out_, frame);
        closed_ = !unix_frames::write_some(unix_fd_, unix_out_);
        return !closed_;
    }
    try {
        return socket_.send(zmq::buffer(frame.data(), frame.size()), zmq::send_flags::none).has_value();
    } catch (const zmq::error_t &) {
        return false;
    }
}

bool RunnerConnection::receive_unix(std::string &frame, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string_view next;
    while (!unix_in_.next(next)) {
        if (closed_) return false;
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        pollfd p{unix_fd_, short(POLLIN | (unix_out_.empty() ? 0 : POLLOUT)), 0};
        const int ready = ::poll(&p, 1, int(std::max<int64_t>(0, left.count())));
        if (ready < 0 && errno != EINTR) closed_ = true;
        if (ready == 0) return false; // timed out
        if (ready > 0 && (p.revents & POLLOUT)) closed_ = !unix_frames::write_some(unix_fd_, unix_out_);
        if (ready > 0 && (p.revents & ~POLLOUT) && !closed_)
            closed_ = unix_in_.fill(unix_fd_) == unix_frames::FrameReader::Fill::closed;
    }
    frame.assign(next);
    return true;
}

bool RunnerConnection::receive(std::string &frame, std::chrono::milliseconds timeout) {
    if (unix_fd_ >= 0) return receive_unix(frame, timeout);
    if (closed_) return false; // a unix:// runner that was not there to connect to
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, timeout) <= 0) return false;
    zmq::message_t msg;
    if (!socket_.recv(msg, zmq::recv_flags::dontwait)) return false;
    frame.assign(static_cast<const char *>(msg.data()), msg.size());
    return true;
}

std::string generate_message(const std::string &command_id, std::string_view canonical_request_json) {
    std::string out = R"({"v":1,"op":"generate","command_id":)";
    out += nlohmann::json(command_id).dump();
    out += R"(,"request":)";
    out += canonical_request_json;
    out += '}';
    return out;
}

std::string cancel_message(const std::string &command_id) {
    return nlohmann::json{{"v", kRunnerProtocolVersion}, {"op", "cancel"}, {"command_id", command_id}}.dump();
}

std::string ping_message() { return R"({"v":1,"op":"ping"})"; }

RequestTable::Flag RequestTable::add(const std::string &command_id) {
    auto flag = std::make_shared<std::atomic<bool>>(false);
    std::lock_guard lk(mutex_);
    flags_[command_id] = flag;
    return flag;
}

void RequestTable::remove(const std::string &command_id) {
    std::lock_guard lk(mutex_);
    flags_.erase(command_id);
}

bool RequestTable::cancel(const std::string &command_id) {
    std::lock_guard lk(mutex_);
    auto it = flags_.find(command_id);
    if (it == flags_.end()) return false;
    it->second->store(true);
    return true;
}

size_t RequestTable::size() const {
    std::lock_guard lk(mutex_);
    return flags_.size();
}

std::string new_command_id() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    static const char *hex = "0123456789abcdef";
    std::string id = "cmd-";
    for (int i = 0; i < 24; ++i) id += hex[rng() & 15];
    return id;
}

} // namespace skulk::api
