// skulk.yaml: the cluster config file. Flags win over environment over this
// file; keys already set by a flag or variable (`explicit_keys`, dotted names
// like "cluster.port") are left alone.
//
//   cluster:
//     namespace: lab            # SKULK_NAMESPACE / --namespace
//     port: 52416               # --cluster-port
//     bootstrap_peers: [tcp://10.0.0.2:52416]   # or "a,b"
//     secret: s3cret            # SKULK_CLUSTER_SECRET: CURVE on all cluster traffic
//     force_master: false       # --force-master
//     require_secret: false     # --require-secret / SKULK_REQUIRE_CLUSTER_SECRET
//     bind: "*"                 # --cluster-bind: cluster ports and runner sockets
//   api:
//     port: 52415               # --api-port
//     bind: 0.0.0.0             # --api-bind
//     enabled: true             # false = --no-api
//     keys: api_keys            # --api-keys / SKULK_API_KEYS (relative: to this file)
//     cors_origins: [https://chat.example.com]   # --cors-origins / SKULK_CORS_ORIGINS
//     threads: 2048             # SKULK_API_THREADS: connections served at once
//     head_timeout_ms: 5000     # SKULK_API_HEAD_TIMEOUT_MS: request head deadline
//   models:
//     dirs: [/srv/models]       # --model-dir / SKULK_MODEL_DIRS: where model files may live
//   nodes:                      # per-node overrides, keyed by host name
//     gpu-box:
//       api: {port: 8080}
#pragma once

#include "config/options.hpp"

#include <filesystem>
#include <set>
#include <string>

namespace skulk::config {

// Returns "" on success, else an error naming the file, the key and why.
// host_name picks the `nodes:` entry whose overrides apply to this node.
std::string apply_yaml_config(const std::filesystem::path &file, Options &options,
                              const std::set<std::string> &explicit_keys, const std::string &host_name);

std::string local_host_name(); // gethostname()

} // namespace skulk::config
