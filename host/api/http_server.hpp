// The daemon's HTTP front: a thin layer over civetweb. Subsystems register
// routes; handlers get the parsed request and answer through HttpResponse,
// either whole (send) or as a stream (start_stream + write, chunked).
//
// All JSON stays in this layer and the adapters: handlers build their JSON
// here, the subsystems below speak C++ types.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct mg_connection;
struct mg_context;

namespace skulk::api {

class ApiKeys;     // auth.hpp
struct CorsPolicy; // cors.hpp

struct HttpRequest {
    std::string method;
    std::string path;                       // without the query string
    std::map<std::string, std::string> query;  // decoded ?a=b&c=d
    std::map<std::string, std::string> headers; // lower-cased names
    std::string body;
    std::vector<std::string> params;        // captures of a route pattern's {x}
};

class HttpResponse {
public:
    explicit HttpResponse(mg_connection *conn) : conn_(conn) {}
    // A whole response. Content-Length is set.
    void send(int status, std::string_view content_type, std::string_view body);
    void send_json(int status, std::string_view json) { send(status, "application/json", json); }
    // The error envelope of API.md: {"error":{"message","type","param","code"}}.
    // `code` is always a string (a default named after the status when
    // empty); `param` names the request field at fault (null when empty).
    void send_error(int status, std::string_view message, std::string_view type = {},
                    std::string_view code = {}, std::string_view param = {});
    // An extra header line for the response sent next (e.g. Retry-After,
    // CORS, WWW-Authenticate).
    void add_header(std::string_view name, std::string_view value);
    // A streamed response (SSE, NDJSON): chunked transfer encoding.
    void start_stream(int status, std::string_view content_type);
    // false once the client has gone away.
    bool write(std::string_view chunk);
    void end_stream();
    bool started() const { return started_; }
    // True once the client has closed its side (or reset) while we have not
    // answered yet: for handlers that wait without writing (a whole
    // response being generated). A poll() and at most a 1-byte MSG_PEEK;
    // the first call finds the socket (a scan of /proc/self/fd).
    bool peer_gone();
    // The status this request is counted under (/metrics): what was sent,
    // unless the handler noted another outcome, e.g. 499 when the client left.
    int outcome() const { return noted_ ? noted_ : sent_; }
    void note_outcome(int status) { noted_ = status; }

private:
    mg_connection *conn_;
    int sent_ = 0, noted_ = 0;
    int fd_ = -2; // -2: not looked up yet, -1: not found
    bool started_ = false;
    bool streaming_ = false;
    bool ended_ = false;
    std::string chunk_; // one chunk's bytes on the wire, reused between writes
    std::string extra_headers_; // "Name: value\r\n" lines from add_header
};

using Handler = std::function<void(const HttpRequest &, HttpResponse &)>;

struct HttpOptions {
    std::string bind_address = "0.0.0.0";
    int port = 52415;            // 0: pick a free port (see bound_port())
    // civetweb serves each open connection on a worker thread of its own,
    // from when it is accepted until it is closed (idle keep-alive time
    // included): this is how many connections are served at once. The others
    // wait in civetweb's queue for a thread (docs/operations.md "HTTP limits").
    int threads = 16;
    // A client must send a whole request head within this many ms of
    // connecting, or the connection is closed (slowloris). civetweb also
    // uses it for each read of the body and for a write that cannot make
    // progress; it does not bound a response, nor the quiet time between
    // two writes of a stream.
    int head_timeout_ms = 5000;
    // The next request head on a kept-alive connection: within this many ms
    // of the previous response.
    int keep_alive_timeout_ms = 10000;
    size_t max_body_bytes = 8 << 20; // larger bodies get 413
    std::shared_ptr<ApiKeys> api_keys;       // null: no API keys asked
    std::shared_ptr<const CorsPolicy> cors;  // null: CORS off
};

class HttpServer {
public:
    explicit HttpServer(HttpOptions options);
    ~HttpServer();
    HttpServer(const HttpServer &) = delete;
    HttpServer &operator=(const HttpServer &) = delete;

    // pattern: an exact path, or with {name} segments ("/instance/{id}").
    // Register before start().
    void route(std::string method, std::string pattern, Handler handler);

    // Called after every request with the matched route pattern (or
    // "(unmatched)") and its outcome. Set before start().
    void on_response(std::function<void(std::string_view route, int status)> observer) { observer_ = std::move(observer); }

    // Throws std::runtime_error with the reason when the port cannot be bound.
    void start();
    void stop();
    int bound_port() const { return bound_port_; }

    // civetweb entry (public for the C callback only).
    int dispatch(mg_connection *conn);

private:
    struct Route {
        std::string method;
        std::string pattern;
        std::vector<std::string> segments;
        Handler handler;
    };
    const Route *match(const std::string &method, const std::string &path,
                       std::vector<std::string> &params, bool &path_known) const;

    HttpOptions options_;
    std::vector<Route> routes_;
    std::function<void(std::string_view, int)> observer_;
    mg_context *ctx_ = nullptr;
    int bound_port_ = 0;
};

} // namespace skulk::api
