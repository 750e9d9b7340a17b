#include "api/cors.hpp"

#include <algorithm>
#include <cctype>

namespace skulk::api {
namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto &c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// scheme "://" host [":" port], nothing after: what a browser sends as Origin.
bool is_origin(std::string_view o) {
    const auto sep = o.find("://");
    if (sep == std::string_view::npos || sep == 0) return false;
    const auto scheme = o.substr(0, sep), rest = o.substr(sep + 3);
    if (!std::all_of(scheme.begin(), scheme.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.'; }))
        return false;
    return !rest.empty() && std::all_of(rest.begin(), rest.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_';
    });
}

// A header list fit to echo back in Access-Control-Allow-Headers.
bool is_token_list(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == ',' || c == ' ' || c == '.';
    });
}

std::string header(const HttpRequest &req, const char *name) {
    auto it = req.headers.find(name);
    return it == req.headers.end() ? std::string() : it->second;
}

} // namespace

bool CorsPolicy::allows(std::string_view origin) const {
    if (origin.empty()) return false;
    const std::string o = lower(origin);
    return std::any_of(origins.begin(), origins.end(), [&](const std::string &a) { return a == "*" || a == o; });
}

std::string make_cors_policy(const std::vector<std::string> &origins, CorsPolicy &out) {
    out.origins.clear();
    for (const auto &raw : origins) {
        std::string o = lower(raw);
        while (!o.empty() && o.back() == '/') o.pop_back(); // "https://x.org/" names the same origin
        if (o != "*" && !is_origin(o))
            return "\"" + raw + "\" is not an origin (scheme://host[:port], e.g. https://chat.example.com, or *)";
        out.origins.push_back(std::move(o));
    }
    return "";
}

void apply_cors(const CorsPolicy &policy, const HttpRequest &req, HttpResponse &res) {
    if (!policy.enabled()) return;
    const std::string origin = header(req, "origin");
    res.add_header("Vary", "Origin"); // the answer depends on the Origin: caches must not share it
    if (policy.allows(origin)) res.add_header("Access-Control-Allow-Origin", origin);
}

void answer_preflight(const CorsPolicy &policy, const HttpRequest &req, HttpResponse &res) {
    if (policy.allows(header(req, "origin"))) {
        res.add_header("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS");
        // "*" would not cover Authorization (Fetch spec): echo what is asked.
        const std::string asked = header(req, "access-control-request-headers");
        res.add_header("Access-Control-Allow-Headers",
                       !asked.empty() && is_token_list(asked) ? asked : "authorization, content-type, x-api-key");
        res.add_header("Access-Control-Max-Age", "600");
    }
    res.send(204, "text/plain", "");
}

} // namespace skulk::api
