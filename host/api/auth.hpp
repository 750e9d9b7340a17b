// Optional bearer API keys for the HTTP API (docs/operations.md, "API keys").
//
// Keys live in a file named by SKULK_API_KEYS / api.keys / --api-keys, one
// key a line, stored only as a hash:
//
//   # comment
//   admin     blake2b256:<64 hex digits>  ops laptop
//   inference blake2b256:<64 hex digits>  open-webui
//
// Why BLAKE2b-256 and not a password hash (crypto_pwhash_str): the keys are
// 256 random bits made by `skulk-host api-key add`, so a fast hash leaves no
// guessing to slow down, while Argon2 would cost tens of milliseconds and
// megabytes on every request (or a cache of clear keys). `api-key hash`
// refuses short operator-chosen keys for the same reason.
//
// Scopes: inference (chat, completions, models list, cancel) and admin
// (everything else); admin implies inference. /healthz is always open.
// Routes are classified by one table (route_scope in auth.cpp); a route
// missing from it needs admin.
#pragma once

#include "api/http_server.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace skulk::api {

enum class Scope { open, inference, admin };

std::string_view to_string(Scope s);
std::optional<Scope> parse_scope(std::string_view s); // "inference" | "admin"

// What a request needs: open, inference or admin (unknown routes: admin).
Scope route_scope(std::string_view method, std::string_view path);

using KeyHash = std::array<uint8_t, 32>;

struct ApiKeyEntry {
    Scope scope = Scope::inference;
    KeyHash hash{};
    std::string label;
};

struct KeyFile {
    std::vector<ApiKeyEntry> keys;
    std::string error; // "FILE:LINE: why"; empty when the file parsed
};

KeyHash hash_key(std::string_view key);
// "blake2b256:<hex>"
std::string format_hash(const KeyHash &h);
// One line of the key file for `key`.
std::string key_file_line(Scope scope, std::string_view key, std::string_view label);
// A fresh random key: "skulk_" + 43 base64url characters (256 bits).
std::string generate_key();

KeyFile parse_key_file(std::string_view text, const std::string &origin);
KeyFile read_key_file(const std::filesystem::path &file);

// The keys one server checks. The file is read again when its size or
// modification time changes (looked at most once a second), so
// `skulk-host api-key add` takes effect without a restart; a file that stops
// parsing keeps the keys last read (logged).
class ApiKeys {
public:
    // Throws std::runtime_error naming the file and line when it cannot be read.
    explicit ApiKeys(std::filesystem::path file);

    // The best scope any of the request's credentials (Authorization: Bearer,
    // x-api-key) grants, or nullopt when none is a known key.
    std::optional<Scope> scope_of(const HttpRequest &req);

    // true: the request may go on. false: a 401 or 403 has been sent.
    bool admit(const HttpRequest &req, HttpResponse &res);

    size_t size();

private:
    std::shared_ptr<const std::vector<ApiKeyEntry>> current();

    std::filesystem::path file_;
    std::mutex mutex_;
    std::shared_ptr<const std::vector<ApiKeyEntry>> keys_;
    std::filesystem::file_time_type mtime_{};
    uintmax_t size_ = 0;
    std::chrono::steady_clock::time_point checked_{};
};

// Fills options.api_keys and options.cors from the daemon's settings
// (keys_file "" = no keys asked; no origins = CORS off). Returns "" or the
// error naming the file and line, or the origin that is wrong.
std::string configure_access(const std::string &keys_file, const std::vector<std::string> &cors_origins,
                             HttpOptions &options);

} // namespace skulk::api
