// The daemon's settings: CLI flags over SKULK_* environment over skulk.yaml
// over defaults. Parsing reports the flag or file and field that is wrong.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace skulk::config {

struct Options {
    // api
    int api_port = 52415;
    bool no_api = false;
    std::string api_bind = "0.0.0.0";
    // HTTP limits (docs/operations.md "HTTP limits"): connections served at
    // once (one civetweb thread each) and the request head deadline.
    int api_threads = 2048;                  // SKULK_API_THREADS / api.threads
    int api_head_timeout_ms = 5000;          // SKULK_API_HEAD_TIMEOUT_MS / api.head_timeout_ms
    // files
    std::filesystem::path data_dir;          // default: common/paths default_data_dir()
    std::optional<std::filesystem::path> config_file; // skulk.yaml
    std::vector<std::filesystem::path> plugin_dirs;   // --plugin-dir / SKULK_PLUGIN_DIR
    std::filesystem::path cards_dir;         // --cards-dir (empty: cards::find_builtin_cards_dir defaults)
    // Where model files (a card's source.path) may live: --model-dir
    // (repeatable), SKULK_MODEL_DIRS (colon-separated) or models.dirs in
    // skulk.yaml. Empty: the defaults, <data-dir>/models and the built-in
    // cards folder (cards::default_model_dirs).
    std::vector<std::filesystem::path> model_dirs;
    // cluster
    int cluster_port = 52416;                // 0: pick a free one
    std::vector<std::string> bootstrap_peers; // tcp://host:port
    std::string cluster_namespace;           // SKULK_NAMESPACE / cluster.namespace
    std::string cluster_secret;              // SKULK_CLUSTER_SECRET / cluster.secret
    bool force_master = false;
    bool require_cluster_secret = false;     // --require-secret / SKULK_REQUIRE_CLUSTER_SECRET / cluster.require_secret
    // serving
    std::vector<std::string> place_models;   // --place MODEL_ID
    // logging
    int verbosity = 0;                       // -v +1, -q -1
    // access (access_options.hpp; docs/operations.md "Security")
    std::string api_keys_file;               // --api-keys / SKULK_API_KEYS / api.keys ("": no keys asked)
    std::vector<std::string> cors_origins;   // --cors-origins / SKULK_CORS_ORIGINS / api.cors_origins ({}: CORS off)
    std::string cluster_bind = "*";          // --cluster-bind / SKULK_CLUSTER_BIND / cluster.bind; runners bind there too
};

enum class ParseOutcome { run, exit_ok, exit_error };

struct ParseResult {
    ParseOutcome outcome = ParseOutcome::run;
    Options options;
    std::string message; // help/version text, or the error naming the flag
};

ParseResult parse_daemon_args(int argc, char **argv);

} // namespace skulk::config
