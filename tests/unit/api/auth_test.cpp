// API keys: the key file format, hashing, scopes and the route table.
#include "api/auth.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

using namespace skulk::api;
namespace fs = std::filesystem;

namespace {

HttpRequest request(std::string method, std::string path, std::map<std::string, std::string> headers = {}) {
    HttpRequest r;
    r.method = std::move(method);
    r.path = std::move(path);
    r.headers = std::move(headers);
    return r;
}

fs::path temp_file(const std::string &text) {
    std::random_device rd;
    const auto p = fs::temp_directory_path() / ("skulk-keys-test-" + std::to_string(rd()) + std::to_string(rd()));
    std::ofstream(p) << text;
    return p;
}

} // namespace

TEST(ApiKeyFile, GeneratedKeysAreLongRandomAndHashRoundTrips) {
    const std::string a = generate_key(), b = generate_key();
    EXPECT_NE(a, b);
    EXPECT_EQ(a.rfind("skulk_", 0), 0u);
    EXPECT_EQ(a.size(), 6u + 43u); // 256 bits in base64url
    const std::string line = key_file_line(Scope::admin, a, "ops laptop");
    EXPECT_EQ(line.find(a), std::string::npos) << "the key must never be written in clear";
    const auto parsed = parse_key_file("# keys\n\n" + line + "\n", "k");
    ASSERT_EQ(parsed.error, "");
    ASSERT_EQ(parsed.keys.size(), 1u);
    EXPECT_EQ(parsed.keys[0].scope, Scope::admin);
    EXPECT_EQ(parsed.keys[0].label, "ops laptop");
    EXPECT_EQ(parsed.keys[0].hash, hash_key(a));
    EXPECT_NE(parsed.keys[0].hash, hash_key(b));
}

TEST(ApiKeyFile, KnownHashOfAKey) {
    // BLAKE2b-256 of "abc" (RFC 7693 test vectors give the 512-bit one; this
    // pins the 256-bit output so the file format never changes silently).
    EXPECT_EQ(format_hash(hash_key("abc")), "blake2b256:bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
}

TEST(ApiKeyFile, ErrorsNameFileLineAndReason) {
    auto e = parse_key_file("admin blake2b256:" + std::string(64, 'a') + "\nroot blake2b256:00\n", "/etc/k");
    EXPECT_EQ(e.error.rfind("/etc/k:2: unknown scope \"root\"", 0), 0u) << e.error;
    e = parse_key_file("inference skulk_abcdefabcdefabcdef\n", "f");
    EXPECT_NE(e.error.find("f:1: the key is not hashed"), std::string::npos) << e.error;
    e = parse_key_file("inference blake2b256:xyz\n", "f");
    EXPECT_NE(e.error.find("64 hex digits"), std::string::npos) << e.error;
    e = parse_key_file("inference blake2b256:" + std::string(63, 'a') + "g\n", "f");
    EXPECT_NE(e.error.find("64 hex digits"), std::string::npos) << e.error;
    e = parse_key_file("admin\n", "f");
    EXPECT_NE(e.error.find("f:1: expected"), std::string::npos) << e.error;
    EXPECT_EQ(read_key_file("/nonexistent/keys").error, "/nonexistent/keys: cannot read the API key file");
}

TEST(ApiKeyScopes, RoutesAreClassifiedAndUnknownOnesNeedAdmin) {
    EXPECT_EQ(route_scope("GET", "/healthz"), Scope::open);
    EXPECT_EQ(route_scope("POST", "/v1/chat/completions"), Scope::inference);
    EXPECT_EQ(route_scope("POST", "/v1/completions"), Scope::inference);
    EXPECT_EQ(route_scope("GET", "/v1/models"), Scope::inference);
    EXPECT_EQ(route_scope("GET", "/v1/models/org/name"), Scope::inference);
    EXPECT_EQ(route_scope("GET", "/models"), Scope::inference);
    EXPECT_EQ(route_scope("POST", "/v1/cancel/abc"), Scope::inference);
    // The router drops empty segments: so does the classifier.
    EXPECT_EQ(route_scope("POST", "//v1//chat/completions/"), Scope::inference);
    EXPECT_EQ(route_scope("GET", "//healthz"), Scope::open);
    // Admin: cards, placement, state, diagnostics, metrics, and anything new.
    for (auto [m, p] : std::vector<std::pair<const char *, const char *>>{
             {"POST", "/models/add"}, {"DELETE", "/models/custom/x"}, {"POST", "/place_instance"},
             {"GET", "/instance/previews"}, {"DELETE", "/instance/abc"}, {"GET", "/state"}, {"GET", "/events"},
             {"GET", "/v1/diagnostics/node"}, {"GET", "/metrics"}, {"GET", "/node_id"}, {"POST", "/healthz"},
             {"DELETE", "/v1/models/x"}, {"GET", "/v1/modelsx"}, {"GET", "/no/such/route"}})
        EXPECT_EQ(route_scope(m, p), Scope::admin) << m << " " << p;
}

TEST(ApiKeyScopes, BearerAndXApiKeyAreAcceptedAndAdminImpliesInference) {
    const std::string admin = generate_key(), infer = generate_key();
    const auto file = temp_file(key_file_line(Scope::admin, admin, "") + "\n" + key_file_line(Scope::inference, infer, "") + "\n");
    ApiKeys keys(file);
    EXPECT_EQ(keys.size(), 2u);
    EXPECT_EQ(keys.scope_of(request("GET", "/", {{"authorization", "Bearer " + admin}})), Scope::admin);
    EXPECT_EQ(keys.scope_of(request("GET", "/", {{"authorization", "bearer  " + infer + " "}})), Scope::inference);
    EXPECT_EQ(keys.scope_of(request("GET", "/", {{"x-api-key", infer}})), Scope::inference);
    // A wrong Authorization next to a right x-api-key: the right one counts.
    EXPECT_EQ(keys.scope_of(request("GET", "/", {{"authorization", "Bearer nope"}, {"x-api-key", admin}})), Scope::admin);
    EXPECT_EQ(keys.scope_of(request("GET", "/", {{"authorization", "Bearer " + admin + "x"}})), std::nullopt);
    EXPECT_EQ(keys.scope_of(request("GET", "/", {{"authorization", "Basic " + admin}})), std::nullopt);
    EXPECT_EQ(keys.scope_of(request("GET", "/", {})), std::nullopt);
    fs::remove(file);
}

TEST(ApiKeyScopes, TheFileIsReadAgainWhenItChanges) {
    const std::string first = generate_key(), second = generate_key();
    const auto file = temp_file(key_file_line(Scope::inference, first, "") + "\n");
    ApiKeys keys(file);
    const auto with = [](const std::string &k) { return request("GET", "/", {{"x-api-key", k}}); };
    EXPECT_EQ(keys.scope_of(with(second)), std::nullopt);
    std::ofstream(file, std::ios::app) << key_file_line(Scope::admin, second, "") << "\n";
    // Looked at most once a second: poll with a deadline.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!keys.scope_of(with(second)) && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(keys.scope_of(with(second)), Scope::admin);
    // A broken edit keeps the keys read before.
    std::ofstream(file, std::ios::app) << "admin clear-text-key\n";
    const auto later = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
    while (std::chrono::steady_clock::now() < later) {
        ASSERT_EQ(keys.scope_of(with(first)), Scope::inference);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    fs::remove(file);
}

TEST(ApiKeyScopes, AStartupFileThatDoesNotParseIsAnError) {
    const auto file = temp_file("admin clear-text-key\n");
    EXPECT_THROW(ApiKeys{file}, std::runtime_error);
    fs::remove(file);
    HttpOptions o;
    EXPECT_NE(configure_access("/nonexistent/keys", {}, o).find("/nonexistent/keys"), std::string::npos);
    EXPECT_NE(configure_access("", {"not an origin"}, o).find("not an origin"), std::string::npos);
    EXPECT_EQ(configure_access("", {}, o), "");
    EXPECT_EQ(o.api_keys, nullptr);
    EXPECT_EQ(o.cors, nullptr);
}
