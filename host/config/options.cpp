#include "config/options.hpp"

#include "common/paths.hpp"
#include "common/version.hpp"
#include "config/access_options.hpp"
#include "config/yaml_config.hpp"

#include <boost/program_options.hpp>

#include <cstdlib>
#include <cstring>
#include <set>
#include <sstream>

namespace po = boost::program_options;

namespace skulk::config {
namespace {

std::vector<std::string> split_list(const std::string &s, char sep) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    for (std::string item; std::getline(ss, item, sep);)
        if (!item.empty()) out.push_back(item);
    return out;
}

const char *env(const char *name) {
    const char *v = std::getenv(name);
    return v && *v ? v : nullptr;
}

bool flag_given(const po::variables_map &vm, const char *name) { return vm.count(name) && !vm[name].defaulted(); }
// An integer setting from the environment within [lo, hi]; "" when fine or
// unset, else the error naming the variable.
std::string int_from_env(const char *name, int lo, int hi, int &out) {
    const char *v = env(name);
    if (!v) return "";
    try {
        size_t used = 0;
        const long n = std::stol(v, &used);
        if (used == std::strlen(v) && n >= lo && n <= hi) {
            out = int(n);
            return "";
        }
    } catch (const std::exception &) {
    }
    return std::string(name) + " must be an integer " + std::to_string(lo) + ".." + std::to_string(hi) + ", got \"" + v + "\"";
}

} // namespace

ParseResult parse_daemon_args(int argc, char **argv) {
    ParseResult r;
    Options &o = r.options;
    int verbose = 0, quiet = 0;
    std::vector<std::string> plugin_dirs, peers, model_dirs, unexpected;
    std::string cards_dir;
    std::string data_dir, config_file;
    std::string cors_origins;

    po::options_description desc("Usage: skulk-host [options]\n       skulk-host plugins [--plugin-dir DIR] [--json]\n"
                                 "       skulk-host api-key add|hash --scope inference|admin [--file FILE] [--label TEXT]\n\nOptions");
    desc.add_options()
        ("help,h", "show this help and exit")
        ("version", "print the version and exit")
        ("api-port", po::value<int>(&o.api_port), "HTTP API port (default 52415)")
        ("no-api", po::bool_switch(&o.no_api), "do not serve the HTTP API on this node")
        ("data-dir", po::value<std::string>(&data_dir), "state directory (default $SKULK_HOME or ~/.local/share/skulk)")
        ("config", po::value<std::string>(&config_file), "cluster config file (skulk.yaml)")
        ("cards-dir", po::value<std::string>(&cards_dir), "built-in model cards folder (default $SKULK_CARDS_DIR, the install's share/skulk/cards, then the source tree's cards/)")
        ("model-dir", po::value<std::vector<std::string>>(&model_dirs), "a folder model files may come from (repeatable; default $SKULK_MODEL_DIRS, else <data-dir>/models and the built-in cards folder)")
        ("plugin-dir", po::value<std::vector<std::string>>(&plugin_dirs), "plugin directory (repeatable; default $SKULK_PLUGIN_DIR, the install's lib dir, then plugins/ next to the binary)")
        ("cluster-port", po::value<int>(&o.cluster_port), "ZeroMQ cluster port (default 52416; 0 picks a free one)")
        ("bootstrap-peers", po::value<std::vector<std::string>>(&peers), "peers to dial, tcp://host:port[,...]")
        ("namespace", po::value<std::string>(&o.cluster_namespace), "cluster namespace (overrides SKULK_NAMESPACE)")
        ("force-master", po::bool_switch(&o.force_master), "always win the election")
        ("require-secret", po::bool_switch(&o.require_cluster_secret), "refuse to start without a cluster secret (exit 2)")
        ("place", po::value<std::vector<std::string>>(&o.place_models), "place this model at startup (repeatable)")
        ("verbose,v", "more logging (-v debug, -vv trace); counted, not parsed here")
        ("quiet,q", "less logging (-q warnings, -qq errors)");
    desc.add_options()
        ("api-bind", po::value<std::string>(&o.api_bind), "address the HTTP API listens on (default 0.0.0.0 = every interface; $SKULK_API_BIND)")
        ("api-keys", po::value<std::string>(&o.api_keys_file), "API key file: requests need a key (default $SKULK_API_KEYS; see skulk-host api-key)")
        ("cors-origins", po::value<std::string>(&cors_origins), "origins allowed by CORS, a,b (default $SKULK_CORS_ORIGINS; none: CORS off)")
        ("cluster-bind", po::value<std::string>(&o.cluster_bind), "address the cluster ports and runner sockets listen on (default * = every interface; $SKULK_CLUSTER_BIND)");

    po::variables_map vm;
    try {
        // -v/-q may repeat (-vv, -v -v), which program_options refuses for a
        // plain switch: count them here and hand it the rest.
        std::vector<std::string> rest;
        for (int i = 1; i < argc; ++i) {
            std::string_view a = argv[i];
            if (a == "--verbose") { ++verbose; continue; }
            if (a == "--quiet") { ++quiet; continue; }
            if (a.size() >= 2 && a[0] == '-' && a[1] != '-') {
                const auto flags = a.substr(1);
                if (flags.find_first_not_of('v') == std::string_view::npos) { verbose += int(flags.size()); continue; }
                if (flags.find_first_not_of('q') == std::string_view::npos) { quiet += int(flags.size()); continue; }
            }
            rest.emplace_back(a);
        }
        // Words that are no option's value are collected, then refused below:
        // `skulk-host extra-word` is a usage error, not a daemon start
        // (`plugins` is dispatched before this parser).
        po::options_description all;
        all.add(desc).add_options()("unexpected-argument", po::value<std::vector<std::string>>(&unexpected));
        po::positional_options_description positional;
        positional.add("unexpected-argument", -1);
        po::store(po::command_line_parser(rest).options(all).positional(positional).run(), vm);
        po::notify(vm);
    } catch (const po::error &e) {
        r.outcome = ParseOutcome::exit_error;
        r.message = std::string("skulk-host: ") + e.what() + "\nTry 'skulk-host --help'.";
        return r;
    }
    if (vm.count("help")) {
        std::ostringstream ss;
        ss << desc;
        r.outcome = ParseOutcome::exit_ok;
        r.message = ss.str();
        return r;
    }
    if (vm.count("version")) {
        r.outcome = ParseOutcome::exit_ok;
        r.message = std::string("skulk-host ") + kVersion;
        return r;
    }
    auto bad = [&](const std::string &msg) {
        r.outcome = ParseOutcome::exit_error;
        r.message = "skulk-host: " + msg;
        return r;
    };
    if (!unexpected.empty())
        return bad("unexpected argument '" + unexpected.front() +
                   "': skulk-host takes options only (its one subcommand is `plugins`)\nTry 'skulk-host --help'.");
    if (o.api_port < 0 || o.api_port > 65535) return bad("--api-port must be 0..65535, got " + std::to_string(o.api_port));
    if (o.cluster_port < 0 || o.cluster_port > 65535)
        return bad("--cluster-port must be 0..65535, got " + std::to_string(o.cluster_port));

    o.verbosity = verbose - quiet;
    o.data_dir = data_dir.empty() ? default_data_dir() : std::filesystem::path(data_dir);
    if (!config_file.empty()) o.config_file = config_file;
    o.cards_dir = cards_dir;
    for (const auto &d : model_dirs) o.model_dirs.emplace_back(d);
    if (o.model_dirs.empty())
        if (const char *e = env("SKULK_MODEL_DIRS"))
            for (const auto &d : split_list(e, ':')) o.model_dirs.emplace_back(d);
    if (auto err = int_from_env("SKULK_API_THREADS", 1, 65536, o.api_threads); !err.empty()) return bad(err);
    if (auto err = int_from_env("SKULK_API_HEAD_TIMEOUT_MS", 100, 600000, o.api_head_timeout_ms); !err.empty())
        return bad(err);
    for (const auto &d : plugin_dirs) o.plugin_dirs.emplace_back(d);
    if (o.plugin_dirs.empty())
        if (const char *e = env("SKULK_PLUGIN_DIR"))
            for (const auto &d : split_list(e, ':')) o.plugin_dirs.emplace_back(d);
    for (const auto &p : peers)
        for (const auto &item : split_list(p, ',')) o.bootstrap_peers.push_back(item);
    if (o.cluster_namespace.empty())
        if (const char *e = env("SKULK_NAMESPACE")) o.cluster_namespace = e;
    if (const char *e = env("SKULK_CLUSTER_SECRET")) o.cluster_secret = e;
    if (!flag_given(vm, "api-bind"))
        if (const char *e = env("SKULK_API_BIND")) o.api_bind = e;
    if (!flag_given(vm, "cluster-bind"))
        if (const char *e = env("SKULK_CLUSTER_BIND")) o.cluster_bind = e;
    if (o.api_keys_file.empty())
        if (const char *e = env("SKULK_API_KEYS")) o.api_keys_file = e;
    if (!flag_given(vm, "cors-origins"))
        if (const char *e = env("SKULK_CORS_ORIGINS")) cors_origins = e;
    o.cors_origins = split_origins(cors_origins);
    const bool api_bind_given = flag_given(vm, "api-bind") || env("SKULK_API_BIND");
    const bool cluster_bind_given = flag_given(vm, "cluster-bind") || env("SKULK_CLUSTER_BIND");
    if (auto why = check_bind_address(o.api_bind); !why.empty()) return bad("--api-bind / SKULK_API_BIND " + why);
    if (auto why = check_bind_address(o.cluster_bind); !why.empty()) return bad("--cluster-bind / SKULK_CLUSTER_BIND " + why);

    // skulk.yaml: --config FILE, else <data-dir>/skulk.yaml when present.
    // Keys given by a flag or variable above win over the file.
    std::set<std::string> given;
    auto flag = [&](const char *name) { return vm.count(name) && !vm[name].defaulted(); };
    if (flag("api-port")) given.insert("api.port");
    if (flag("no-api")) given.insert("api.enabled");
    if (flag("cluster-port")) given.insert("cluster.port");
    if (!peers.empty()) given.insert("cluster.bootstrap_peers");
    if (!o.cluster_namespace.empty()) given.insert("cluster.namespace");
    if (!o.cluster_secret.empty()) given.insert("cluster.secret");
    if (flag("force-master")) given.insert("cluster.force_master");
    if (flag("require-secret")) given.insert("cluster.require_secret");
    if (const char *e = env("SKULK_REQUIRE_CLUSTER_SECRET"); e && !o.require_cluster_secret) {
        const std::string v = e;
        if (v == "1" || v == "true") o.require_cluster_secret = true;
        else if (v != "0" && v != "false" && !v.empty())
            return bad("SKULK_REQUIRE_CLUSTER_SECRET must be 0 or 1, got \"" + v + "\"");
        if (!v.empty()) given.insert("cluster.require_secret");
    }
    if (api_bind_given) given.insert("api.bind");
    if (cluster_bind_given) given.insert("cluster.bind");
    if (!o.api_keys_file.empty()) given.insert("api.keys");
    if (!cors_origins.empty()) given.insert("api.cors_origins");
    if (!o.model_dirs.empty()) given.insert("models.dirs");
    if (env("SKULK_API_THREADS")) given.insert("api.threads");
    if (env("SKULK_API_HEAD_TIMEOUT_MS")) given.insert("api.head_timeout_ms");
    std::filesystem::path yaml = o.config_file.value_or(o.data_dir / "skulk.yaml");
    std::error_code ec;
    if (o.config_file || std::filesystem::exists(yaml, ec)) {
        if (auto err = apply_yaml_config(yaml, o, given, local_host_name()); !err.empty()) return bad(err);
        o.config_file = yaml;
    }
    if (o.require_cluster_secret && o.cluster_secret.empty())
        return bad("no cluster secret is set and --require-secret (SKULK_REQUIRE_CLUSTER_SECRET, cluster.require_secret) "
                   "refuses to start without one: set SKULK_CLUSTER_SECRET or cluster.secret");
    if (o.api_bind == "*") o.api_bind = "0.0.0.0"; // civetweb takes an address, ZeroMQ takes * too
    return r;
}

} // namespace skulk::config
