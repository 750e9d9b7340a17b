#include "api/auth.hpp"

#include "api/cors.hpp"
#include "log/logging.hpp"

#include <sodium.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace skulk::api {
namespace {

constexpr std::string_view kHashPrefix = "blake2b256:";

// Every route's scope, by method and path (a `prefix` entry covers the
// paths below it). Keep this the one place that says who may call what:
// a route missing here needs an admin key.
struct RouteClass {
    std::string_view method;
    std::string_view path;
    bool prefix;
    Scope scope;
};
constexpr RouteClass kRouteClasses[] = {
    {"GET", "/healthz", false, Scope::open},
    // OpenAI
    {"POST", "/v1/chat/completions", false, Scope::inference},
    {"POST", "/v1/completions", false, Scope::inference},
    {"POST", "/v1/responses", false, Scope::inference},
    {"POST", "/v1/embeddings", false, Scope::inference},
    {"GET", "/v1/models", false, Scope::inference},
    {"GET", "/v1/models/", true, Scope::inference},
    {"GET", "/models", false, Scope::inference},
    {"POST", "/v1/cancel/", true, Scope::inference},
    // Anthropic
    {"POST", "/v1/messages", false, Scope::inference},
    // Ollama
    {"POST", "/ollama/api/chat", false, Scope::inference},
    {"POST", "/ollama/api/generate", false, Scope::inference},
    {"GET", "/ollama/api/tags", false, Scope::inference},
    {"POST", "/ollama/api/show", false, Scope::inference},
    {"GET", "/ollama/api/ps", false, Scope::inference},
    {"GET", "/ollama/api/version", false, Scope::inference},
};

// The path as the router sees it: empty segments dropped ("//v1//models/"
// is routed as "/v1/models", so it must be classified as that too).
std::string canonical_path(std::string_view path) {
    std::string out;
    size_t i = 0;
    while (i < path.size()) {
        while (i < path.size() && path[i] == '/') ++i;
        size_t j = path.find('/', i);
        if (j == std::string_view::npos) j = path.size();
        if (j > i) out.append("/").append(path.substr(i, j - i));
        i = j;
    }
    if (out.empty()) out = "/";
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

void init_sodium() {
    if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
}

// The credentials a request carries: "Authorization: Bearer K" (OpenAI
// clients) and "x-api-key: K" (Anthropic clients).
std::vector<std::string_view> credentials(const HttpRequest &req) {
    std::vector<std::string_view> out;
    if (auto it = req.headers.find("authorization"); it != req.headers.end()) {
        const std::string_view v = trim(it->second);
        if (v.size() > 7 && iequals(v.substr(0, 7), "bearer ")) out.push_back(trim(v.substr(7)));
    }
    if (auto it = req.headers.find("x-api-key"); it != req.headers.end())
        if (const auto v = trim(it->second); !v.empty()) out.push_back(v);
    return out;
}

std::string line_error(const std::string &origin, int line, const std::string &why) {
    return origin + ":" + std::to_string(line) + ": " + why;
}

} // namespace

std::string_view to_string(Scope s) {
    switch (s) {
    case Scope::open: return "open";
    case Scope::inference: return "inference";
    case Scope::admin: return "admin";
    }
    return "admin";
}

std::optional<Scope> parse_scope(std::string_view s) {
    if (s == "inference") return Scope::inference;
    if (s == "admin") return Scope::admin;
    return std::nullopt;
}

Scope route_scope(std::string_view method, std::string_view path) {
    const std::string p = canonical_path(path);
    for (const auto &r : kRouteClasses) {
        if (r.method != method) continue;
        if (r.prefix ? (p.size() > r.path.size() && p.compare(0, r.path.size(), r.path) == 0) : p == r.path)
            return r.scope;
    }
    return Scope::admin;
}

KeyHash hash_key(std::string_view key) {
    init_sodium();
    KeyHash h{};
    crypto_generichash(h.data(), h.size(), reinterpret_cast<const unsigned char *>(key.data()), key.size(), nullptr, 0);
    return h;
}

std::string format_hash(const KeyHash &h) {
    std::string hex(h.size() * 2 + 1, '\0');
    sodium_bin2hex(hex.data(), hex.size(), h.data(), h.size());
    hex.pop_back();
    return std::string(kHashPrefix) + hex;
}

std::string key_file_line(Scope scope, std::string_view key, std::string_view label) {
    std::string line = std::string(to_string(scope)) + " " + format_hash(hash_key(key));
    if (!label.empty()) line.append(" ").append(label);
    return line;
}

std::string generate_key() {
    init_sodium();
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    const int variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
    std::string b64(sodium_base64_ENCODED_LEN(sizeof raw, variant), '\0');
    sodium_bin2base64(b64.data(), b64.size(), raw, sizeof raw, variant);
    b64.resize(std::char_traits<char>::length(b64.c_str()));
    sodium_memzero(raw, sizeof raw);
    return "skulk_" + b64;
}

KeyFile parse_key_file(std::string_view text, const std::string &origin) {
    KeyFile out;
    int line_no = 0;
    size_t pos = 0;
    while (pos <= text.size()) {
        size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        const std::string_view line = trim(text.substr(pos, end - pos));
        pos = end + 1;
        ++line_no;
        if (line.empty() || line.front() == '#') continue;
        std::istringstream fields{std::string(line)};
        std::string scope_word, hash_word, label;
        fields >> scope_word >> hash_word;
        std::getline(fields, label);
        const auto scope = parse_scope(scope_word);
        if (!scope) {
            out.error = line_error(origin, line_no, "unknown scope \"" + scope_word + "\" (known: inference, admin)");
            return out;
        }
        if (hash_word.empty()) {
            out.error = line_error(origin, line_no, "expected \"<scope> blake2b256:<64 hex digits> [label]\"");
            return out;
        }
        if (hash_word.rfind(kHashPrefix, 0) != 0) {
            out.error = line_error(origin, line_no,
                                   "the key is not hashed: keys are never stored in clear; write \"" + scope_word +
                                       " blake2b256:<hash>\" (skulk-host api-key hash prints the line)");
            return out;
        }
        const std::string hex = hash_word.substr(kHashPrefix.size());
        ApiKeyEntry e;
        e.scope = *scope;
        size_t bin_len = 0;
        const char *hex_end = nullptr;
        if (hex.size() != 64 || sodium_hex2bin(e.hash.data(), e.hash.size(), hex.data(), hex.size(), nullptr, &bin_len,
                                               &hex_end) != 0 || bin_len != e.hash.size()) {
            out.error = line_error(origin, line_no, "the hash must be 64 hex digits after \"blake2b256:\"");
            return out;
        }
        e.label = std::string(trim(label));
        out.keys.push_back(std::move(e));
    }
    return out;
}

KeyFile read_key_file(const std::filesystem::path &file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        KeyFile out;
        out.error = file.string() + ": cannot read the API key file";
        return out;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    return parse_key_file(ss.str(), file.string());
}

ApiKeys::ApiKeys(std::filesystem::path file) : file_(std::move(file)) {
    init_sodium();
    auto parsed = read_key_file(file_);
    if (!parsed.error.empty()) throw std::runtime_error(parsed.error);
    std::error_code ec;
    mtime_ = std::filesystem::last_write_time(file_, ec);
    size_ = std::filesystem::file_size(file_, ec);
    keys_ = std::make_shared<const std::vector<ApiKeyEntry>>(std::move(parsed.keys));
    checked_ = std::chrono::steady_clock::now();
}

std::shared_ptr<const std::vector<ApiKeyEntry>> ApiKeys::current() {
    std::lock_guard lk(mutex_);
    const auto now = std::chrono::steady_clock::now();
    if (now - checked_ < std::chrono::seconds(1)) return keys_;
    checked_ = now;
    std::error_code ec1, ec2;
    const auto mtime = std::filesystem::last_write_time(file_, ec1);
    const auto size = std::filesystem::file_size(file_, ec2);
    if (ec1 || ec2 || (mtime == mtime_ && size == size_)) return keys_;
    mtime_ = mtime;
    size_ = size;
    auto parsed = read_key_file(file_);
    if (!parsed.error.empty()) {
        log::get("api")->error("API keys not reloaded, the {} keys read before stay: {}", keys_->size(), parsed.error);
        return keys_;
    }
    log::get("api")->info("API keys reloaded from {}: {} keys", file_.string(), parsed.keys.size());
    keys_ = std::make_shared<const std::vector<ApiKeyEntry>>(std::move(parsed.keys));
    return keys_;
}

size_t ApiKeys::size() { return current()->size(); }

std::optional<Scope> ApiKeys::scope_of(const HttpRequest &req) {
    const auto keys = current();
    std::optional<Scope> best;
    for (const auto cred : credentials(req)) {
        const KeyHash h = hash_key(cred);
        // Every entry is compared (no early exit), each in constant time.
        for (const auto &e : *keys)
            if (sodium_memcmp(h.data(), e.hash.data(), h.size()) == 0 && (!best || e.scope == Scope::admin))
                best = e.scope;
    }
    return best;
}

bool ApiKeys::admit(const HttpRequest &req, HttpResponse &res) {
    const Scope need = route_scope(req.method, req.path);
    if (need == Scope::open) return true;
    const auto have = scope_of(req);
    if (!have) {
        const bool sent_one = !credentials(req).empty();
        res.add_header("WWW-Authenticate", sent_one ? R"(Bearer realm="skulk", error="invalid_token")" : R"(Bearer realm="skulk")");
        res.send_error(401,
                       sent_one ? "Incorrect API key provided."
                                : "Missing API key: send it as 'Authorization: Bearer <key>' or 'x-api-key: <key>'.",
                       "authentication_error", "invalid_api_key");
        return false;
    }
    if (need == Scope::admin && *have != Scope::admin) {
        res.send_error(403, "This API key has the inference scope; " + req.method + " " + req.path + " needs an admin key.",
                       "permission_error", "insufficient_scope");
        return false;
    }
    return true;
}

std::string configure_access(const std::string &keys_file, const std::vector<std::string> &cors_origins,
                             HttpOptions &options) {
    auto log = log::get("api");
    if (!keys_file.empty()) {
        try {
            options.api_keys = std::make_shared<ApiKeys>(keys_file);
        } catch (const std::exception &e) {
            return std::string("API keys: ") + e.what();
        }
        const size_t n = options.api_keys->size();
        if (n == 0) log->warn("API key file {} holds no keys: every route but /healthz answers 401", keys_file);
        else log->info("API keys: {} from {}", n, keys_file);
    } else {
        log->info("no API keys (SKULK_API_KEYS / api.keys): every client that reaches the API may use all of it");
    }
    auto cors = std::make_shared<CorsPolicy>();
    if (auto err = make_cors_policy(cors_origins, *cors); !err.empty())
        return "CORS origins (--cors-origins / SKULK_CORS_ORIGINS / api.cors_origins): " + err;
    if (cors->enabled()) options.cors = std::move(cors);
    return "";
}

} // namespace skulk::api
