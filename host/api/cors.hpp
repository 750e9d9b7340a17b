// CORS for the HTTP API (docs/operations.md, "CORS"): off by default (no
// Access-Control-Allow-Origin on any answer, so browsers keep other sites'
// pages from reading it); an allow-list of origins when configured
// (SKULK_CORS_ORIGINS / api.cors_origins / --cors-origins). An allowed
// origin is echoed back with `Vary: Origin`; "*" in the list allows any.
#pragma once

#include "api/http_server.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace skulk::api {

struct CorsPolicy {
    std::vector<std::string> origins; // "scheme://host[:port]", lower-cased; "*" = any
    bool enabled() const { return !origins.empty(); }
    bool allows(std::string_view origin) const;
};

// Checks and normalises the configured origins. Returns "" or why an entry
// is not an origin (for the flag, variable or file that named it).
std::string make_cors_policy(const std::vector<std::string> &origins, CorsPolicy &out);

// Adds the CORS headers an answer to `req` carries (none when CORS is off
// or the request's Origin is not allowed).
void apply_cors(const CorsPolicy &policy, const HttpRequest &req, HttpResponse &res);

// Answers a preflight (OPTIONS): 204, with the allow headers only for an
// allowed origin. Preflights never need an API key (browsers send none).
void answer_preflight(const CorsPolicy &policy, const HttpRequest &req, HttpResponse &res);

} // namespace skulk::api
