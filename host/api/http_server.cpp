#include "api/http_server.hpp"

#include "api/auth.hpp"
#include "api/cors.hpp"
#include "skulk/utf8.hpp"

#include <civetweb.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <chrono>
#include <filesystem>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>

namespace skulk::api {
namespace {

const char *reason_phrase(int status) {
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 422: return "Unprocessable Entity";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 507: return "Insufficient Storage";
    default: return "";
    }
}

std::string default_error_type(int status) {
    if (status == 404) return "not_found_error";
    if (status == 413) return "request_too_large";
    if (status >= 500) return "server_error";
    return "invalid_request_error";
}

// The envelope's `code` when a route gives none: always a string (clients
// switch on it), named after the status.
std::string default_error_code(int status) {
    switch (status) {
    case 400: return "invalid_request";
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 409: return "conflict";
    case 413: return "request_too_large";
    case 422: return "unprocessable";
    case 503: return "service_unavailable";
    default: return status >= 500 ? "internal_error" : "http_" + std::to_string(status);
    }
}

std::vector<std::string> split_path(std::string_view path) {
    std::vector<std::string> out;
    size_t i = 0;
    while (i < path.size()) {
        while (i < path.size() && path[i] == '/') ++i;
        size_t j = path.find('/', i);
        if (j == std::string_view::npos) j = path.size();
        if (j > i) out.emplace_back(path.substr(i, j - i));
        i = j;
    }
    return out;
}

std::string url_decode(std::string_view s) {
    std::string out(s.size() + 1, '\0');
    const int n = mg_url_decode(s.data(), int(s.size()), out.data(), int(out.size()), 1);
    out.resize(n < 0 ? 0 : size_t(n));
    return out;
}

std::map<std::string, std::string> parse_query(const char *qs) {
    std::map<std::string, std::string> out;
    if (!qs) return out;
    std::string_view rest(qs);
    while (!rest.empty()) {
        size_t amp = rest.find('&');
        std::string_view pair = rest.substr(0, amp);
        size_t eq = pair.find('=');
        if (!pair.empty())
            out[url_decode(pair.substr(0, eq))] = eq == std::string_view::npos ? "" : url_decode(pair.substr(eq + 1));
        if (amp == std::string_view::npos) break;
        rest.remove_prefix(amp + 1);
    }
    return out;
}

// Opens and closes one TCP connection to our own listener. That is the only
// public way to wake civetweb's master thread out of its poll() (see stop()).
void poke_listener(const std::string &bind_address, int port) {
    const bool v6 = bind_address.find(':') != std::string::npos;
    std::string host = bind_address;
    if (!host.empty() && host.front() == '[') host = host.substr(1, host.size() - 2);
    if (host == "0.0.0.0" || host.empty()) host = "127.0.0.1";
    if (host == "::") host = "::1";
    const int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    if (v6) {
        sockaddr_in6 a{};
        a.sin6_family = AF_INET6;
        a.sin6_port = htons(uint16_t(port));
        if (::inet_pton(AF_INET6, host.c_str(), &a.sin6_addr) == 1) ::connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a);
    } else {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(uint16_t(port));
        if (::inet_pton(AF_INET, host.c_str(), &a.sin_addr) == 1) ::connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a);
    }
    ::close(fd);
}

// Shuts down (SHUT_RDWR) every accepted TCP connection of this process whose
// local port is `port`: a civetweb worker waiting in poll() for a request on
// an idle or half-sent connection then returns at once instead of at the end
// of its 2 s poll quantum. civetweb has no API that hands out the sockets,
// so we find them in /proc/self/fd.
void shutdown_accepted_connections(int port) {
    std::error_code ec;
    for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
        const int fd = std::stoi(name);
        struct stat st {};
        if (::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
        int type = 0, listening = 0;
        socklen_t len = sizeof type;
        if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) continue;
        len = sizeof listening;
        if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || listening) continue;
        sockaddr_storage local{};
        socklen_t local_len = sizeof local;
        if (::getsockname(fd, reinterpret_cast<sockaddr *>(&local), &local_len) != 0) continue;
        int local_port = -1;
        if (local.ss_family == AF_INET) local_port = ntohs(reinterpret_cast<sockaddr_in *>(&local)->sin_port);
        if (local.ss_family == AF_INET6) local_port = ntohs(reinterpret_cast<sockaddr_in6 *>(&local)->sin6_port);
        if (local_port == port) ::shutdown(fd, SHUT_RDWR);
    }
}

// The accepted socket of one request: civetweb has no API that hands it
// out, so find the socket whose peer is the request's remote address and
// port (unique among this process's sockets while the request lives).
int find_connection_socket(const mg_request_info *ri) {
    if (!ri) return -1;
    std::error_code ec;
    for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
        const int fd = std::stoi(name);
        sockaddr_storage peer{};
        socklen_t len = sizeof peer;
        if (::getpeername(fd, reinterpret_cast<sockaddr *>(&peer), &len) != 0) continue;
        char text[INET6_ADDRSTRLEN] = {};
        int port = -1;
        if (peer.ss_family == AF_INET) {
            const auto *a = reinterpret_cast<sockaddr_in *>(&peer);
            ::inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
            port = ntohs(a->sin_port);
        } else if (peer.ss_family == AF_INET6) {
            const auto *a = reinterpret_cast<sockaddr_in6 *>(&peer);
            ::inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
            port = ntohs(a->sin6_port);
        }
        if (port == ri->remote_port && std::strcmp(text, ri->remote_addr) == 0) return fd;
    }
    return -1;
}

// civetweb 1.15 says only "Failed to setup server ports" when the listener
// cannot be opened: bind a socket of our own to the same address to learn
// the errno (EADDRINUSE, EACCES, EADDRNOTAVAIL). 0 when the bind works.
int bind_errno(const std::string &bind_address, int port) {
    std::string host = bind_address;
    if (!host.empty() && host.front() == '[') host = host.substr(1, host.size() - 2);
    const bool v6 = host.find(':') != std::string::npos;
    const int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return errno;
    const int one = 1; // as civetweb does: a port in TIME_WAIT is not "taken"
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int rc = -1;
    if (v6) {
        sockaddr_in6 a{};
        a.sin6_family = AF_INET6;
        a.sin6_port = htons(uint16_t(port));
        if (::inet_pton(AF_INET6, host.c_str(), &a.sin6_addr) != 1) { ::close(fd); return EINVAL; }
        rc = ::bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a);
    } else {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(uint16_t(port));
        if (::inet_pton(AF_INET, host.empty() ? "0.0.0.0" : host.c_str(), &a.sin_addr) != 1) { ::close(fd); return EINVAL; }
        rc = ::bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a);
    }
    const int err = rc == 0 ? 0 : errno;
    ::close(fd);
    return err;
}

// Why the listener could not be opened, naming the address and port (and the
// settings that choose them) so an operator knows what to change.
std::string start_failure_message(const HttpOptions &o, const char *civetweb_text) {
    const std::string where = o.bind_address + ":" + std::to_string(o.port);
    const std::string prefix = "cannot serve the HTTP API on " + where + ": ";
    switch (const int err = bind_errno(o.bind_address, o.port)) {
    case 0: break;
    case EADDRINUSE:
        return prefix + "port " + std::to_string(o.port) +
               " is already in use by another process (choose another with --api-port or api.port in skulk.yaml)";
    case EACCES:
        return prefix + "no permission to bind port " + std::to_string(o.port) + " (ports below 1024 need privileges)";
    default: return prefix + std::strerror(err);
    }
    return prefix + (civetweb_text && *civetweb_text ? civetweb_text : "civetweb failed to start");
}

int begin_request(mg_connection *conn) {
    auto *server = static_cast<HttpServer *>(mg_get_user_data(mg_get_context(conn)));
    return server->dispatch(conn);
}

} // namespace

void HttpResponse::send(int status, std::string_view content_type, std::string_view body) {
    if (started_) return;
    started_ = true;
    sent_ = status;
    mg_printf(conn_,
              "HTTP/1.1 %d %s\r\nContent-Type: %.*s\r\nContent-Length: %zu\r\n"
              "Cache-Control: no-cache\r\n%s\r\n",
              status, reason_phrase(status), int(content_type.size()), content_type.data(), body.size(),
              extra_headers_.c_str());
    if (!body.empty()) mg_write(conn_, body.data(), body.size());
}

void HttpResponse::add_header(std::string_view name, std::string_view value) {
    extra_headers_.append(name).append(": ").append(value).append("\r\n");
}

void HttpResponse::send_error(int status, std::string_view message, std::string_view type,
                              std::string_view code, std::string_view param) {
    nlohmann::json err = {{"message", message},
                          {"type", type.empty() ? default_error_type(status) : std::string(type)},
                          {"param", param.empty() ? nlohmann::json(nullptr) : nlohmann::json(param)},
                          {"code", code.empty() ? default_error_code(status) : std::string(code)}};
    // A message may quote what the client sent (a path, an id) and that may
    // be ill-formed UTF-8: replaced by U+FFFD rather than failing the dump.
    send_json(status, nlohmann::json{{"error", err}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void HttpResponse::start_stream(int status, std::string_view content_type) {
    if (started_) return;
    started_ = streaming_ = true;
    sent_ = status;
    mg_printf(conn_,
              "HTTP/1.1 %d %s\r\nContent-Type: %.*s\r\nTransfer-Encoding: chunked\r\n"
              "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n%s\r\n",
              status, reason_phrase(status), int(content_type.size()), content_type.data(), extra_headers_.c_str());
}

bool HttpResponse::write(std::string_view chunk) {
    if (!streaming_ || ended_) return false;
    if (chunk.empty()) return true;
    // Size line, data and CRLF in ONE write: mg_send_chunk writes them
    // separately, which with TCP_NODELAY is three segments a token and up to
    // three wake-ups of the reader, each taking a core from the engine.
    char size_line[24];
    const int n = std::snprintf(size_line, sizeof size_line, "%zx\r\n", chunk.size());
    chunk_.assign(size_line, static_cast<size_t>(n));
    chunk_.append(chunk);
    chunk_.append("\r\n");
    return mg_write(conn_, chunk_.data(), chunk_.size()) == static_cast<int>(chunk_.size());
}

bool HttpResponse::peer_gone() {
    if (started_) return false; // a writer learns it from write()
    if (fd_ == -2) fd_ = find_connection_socket(mg_get_request_info(conn_));
    if (fd_ < 0) return false; // cannot tell: the final write will
    pollfd p{fd_, POLLIN | POLLRDHUP, 0};
    if (::poll(&p, 1, 0) <= 0) return false;
    if (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) return true;
    if (p.revents & POLLIN) { // a pipelined next request, or EOF
        char c;
        const ssize_t n = ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
        return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
    }
    return false;
}

void HttpResponse::end_stream() {
    if (!streaming_ || ended_) return;
    ended_ = true;
    mg_write(conn_, "0\r\n\r\n", 5); // the last chunk, also in one write
}

HttpServer::HttpServer(HttpOptions options) : options_(std::move(options)) {
    static std::once_flag once;
    std::call_once(once, [] { mg_init_library(0); });
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::route(std::string method, std::string pattern, Handler handler) {
    auto segments = split_path(pattern);
    routes_.push_back(Route{std::move(method), std::move(pattern), std::move(segments), std::move(handler)});
}

namespace {

// civetweb's configuration, as name/value pairs (see HttpOptions for why
// each limit is what it is).
std::vector<std::pair<std::string, std::string>> civetweb_options(const HttpOptions &o) {
    return {
        {"listening_ports", o.bind_address + ":" + std::to_string(o.port)},
        {"num_threads", std::to_string(o.threads)},
        // Accepted connections waiting for a free thread: as many as there
        // are threads, so a burst is queued rather than left in the kernel's
        // backlog.
        {"connection_queue", std::to_string(o.threads)},
        {"listen_backlog", "1024"},
        // The head deadline (slowloris): in civetweb 1.15 it bounds the whole
        // head of the first request since the connection was accepted, not
        // each read, so a client trickling one byte a second is closed too.
        {"request_timeout_ms", std::to_string(o.head_timeout_ms)},
        // Idle keep-alive longer than clients' own idle timeouts (undici/node
        // 4-5 s): a server that closes first races a client reusing the
        // socket ("other side closed").
        {"enable_keep_alive", "yes"},
        {"keep_alive_timeout_ms", std::to_string(o.keep_alive_timeout_ms)},
        // Streams write one small chunk per token: without TCP_NODELAY Nagle
        // + delayed ACK stall them ~40 ms.
        {"tcp_nodelay", "1"},
    };
}

} // namespace

void HttpServer::start() {
    const auto settings = civetweb_options(options_);
    std::vector<const char *> opts;
    for (const auto &[name, value] : settings) {
        opts.push_back(name.c_str());
        opts.push_back(value.c_str());
    }
    opts.push_back(nullptr);
    mg_callbacks callbacks{};
    callbacks.begin_request = begin_request;
    char error_text[256] = {0};
    mg_init_data init{};
    init.callbacks = &callbacks;
    init.user_data = this;
    init.configuration_options = opts.data();
    mg_error_data error{};
    error.text = error_text;
    error.text_buffer_size = sizeof error_text;
    ctx_ = mg_start2(&init, &error);
    if (!ctx_) throw std::runtime_error(start_failure_message(options_, error_text));
    mg_server_port sp[4];
    const int n = mg_get_server_ports(ctx_, 4, sp);
    bound_port_ = n > 0 ? sp[0].port : options_.port;
}

void HttpServer::stop() {
    if (!ctx_) return;
    // civetweb's threads wait in poll() in quanta of SOCKET_TIMEOUT_QUANTUM
    // (2 s in 1.15) and look at the stop flag only between them, so a bare
    // mg_stop() takes up to 2 s: the master polls the listening socket, and a
    // worker polls a connection whose client is idle or half-way through a
    // request. We run mg_stop() on a helper thread and, until it returns,
    // wake both: a connection to our own port ends the master's poll, and
    // shutting down the accepted connections ends the workers'.
    mg_context *ctx = std::exchange(ctx_, nullptr);
    auto stopped = std::async(std::launch::async, [ctx] { mg_stop(ctx); });
    while (stopped.wait_for(std::chrono::milliseconds(20)) != std::future_status::ready) {
        shutdown_accepted_connections(bound_port_);
        poke_listener(options_.bind_address, bound_port_);
    }
}

const HttpServer::Route *HttpServer::match(const std::string &method, const std::string &path,
                                           std::vector<std::string> &params, bool &path_known) const {
    const auto segs = split_path(path);
    path_known = false;
    for (const auto &r : routes_) {
        if (r.segments.size() != segs.size()) continue;
        std::vector<std::string> caps;
        bool ok = true;
        for (size_t i = 0; i < segs.size() && ok; ++i) {
            const auto &p = r.segments[i];
            if (p.size() > 1 && p.front() == '{' && p.back() == '}')
                caps.push_back(url_decode(segs[i]));
            else
                ok = p == segs[i];
        }
        if (!ok) continue;
        path_known = true;
        if (r.method == method) {
            params = std::move(caps);
            return &r;
        }
    }
    return nullptr;
}

int HttpServer::dispatch(mg_connection *conn) {
    const mg_request_info *ri = mg_get_request_info(conn);
    HttpRequest req;
    req.method = ri->request_method ? ri->request_method : "";
    req.path = ri->local_uri ? ri->local_uri : "/";
    req.query = parse_query(ri->query_string);
    for (int i = 0; i < ri->num_headers; ++i) {
        std::string name = ri->http_headers[i].name;
        for (auto &c : name) c = char(std::tolower(static_cast<unsigned char>(c)));
        req.headers[name] = ri->http_headers[i].value;
    }
    HttpResponse res(conn);
    if (options_.cors) apply_cors(*options_.cors, req, res);
    if (req.method == "OPTIONS") { // CORS preflight (cors.cpp)
        answer_preflight(options_.cors ? *options_.cors : CorsPolicy{}, req, res);
        return 204;
    }
    bool path_known = false;
    const Route *route = match(req.method, req.path, req.params, path_known);
    struct Count { // every way out of here is counted once
        const std::function<void(std::string_view, int)> &observer;
        const Route *&route;
        HttpResponse &res;
        ~Count() {
            if (observer) observer(route ? std::string_view(route->pattern) : std::string_view("(unmatched)"), res.outcome());
        }
    } count{observer_, route, res};
    if (options_.api_keys && !options_.api_keys->admit(req, res)) return res.outcome(); // auth.cpp: 401/403
    if (!route) {
        if (path_known)
            res.send_error(405, "method " + req.method + " not allowed on " + req.path);
        else
            res.send_error(404, "no such route: " + req.method + " " + req.path);
        return res.started() ? 404 : 0;
    }
    if (ri->content_length > 0 && size_t(ri->content_length) > options_.max_body_bytes) {
        res.send_error(413, "request body of " + std::to_string(ri->content_length) + " bytes exceeds the limit of " +
                                std::to_string(options_.max_body_bytes) + " bytes");
        return 413;
    }
    char buf[16384];
    for (int n; (n = mg_read(conn, buf, sizeof buf)) > 0;) {
        req.body.append(buf, size_t(n));
        if (req.body.size() > options_.max_body_bytes) {
            res.send_error(413, "request body exceeds the limit of " + std::to_string(options_.max_body_bytes) +
                                    " bytes");
            return 413;
        }
    }
    if (const size_t bad = utf8::first_invalid(req.body); bad != std::string_view::npos) {
        res.send_error(400, "the request body is not valid UTF-8 (ill-formed byte sequence at byte offset " +
                                std::to_string(bad) + "); JSON bodies must be UTF-8",
                       "invalid_request_error", "invalid_utf8", "body");
        return 400;
    }
    try {
        route->handler(req, res);
    } catch (const std::exception &e) {
        if (!res.started()) res.send_error(500, std::string("internal error: ") + e.what());
    }
    if (!res.started()) res.send_error(500, "handler produced no response");
    res.end_stream();
    return 200;
}

} // namespace skulk::api
