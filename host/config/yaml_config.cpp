#include "config/yaml_config.hpp"

#include "config/access_options.hpp"

#include <yaml-cpp/yaml.h>

#include <functional>
#include <map>
#include <sstream>
#include <unistd.h>

namespace skulk::config {
namespace {

struct BadValue {
    std::string why;
};

std::string scalar(const YAML::Node &n) {
    if (!n.IsScalar()) throw BadValue{"must be a single value"};
    return n.Scalar();
}
int port_value(const YAML::Node &n) {
    const std::string s = scalar(n);
    try {
        size_t used = 0;
        const int v = std::stoi(s, &used);
        if (used == s.size() && v >= 0 && v <= 65535) return v;
    } catch (const std::exception &) {
    }
    throw BadValue{"must be an integer port 0..65535, got \"" + s + "\""};
}
int int_value(const YAML::Node &n, int lo, int hi) {
    const std::string s = scalar(n);
    try {
        size_t used = 0;
        const int v = std::stoi(s, &used);
        if (used == s.size() && v >= lo && v <= hi) return v;
    } catch (const std::exception &) {
    }
    throw BadValue{"must be an integer " + std::to_string(lo) + ".." + std::to_string(hi) + ", got \"" + s + "\""};
}
std::vector<std::filesystem::path> dirs_value(const YAML::Node &n) {
    std::vector<std::filesystem::path> out;
    if (n.IsSequence()) {
        for (const auto &item : n) out.emplace_back(scalar(item));
    } else {
        std::stringstream ss(scalar(n));
        for (std::string item; std::getline(ss, item, ':');)
            if (!item.empty()) out.emplace_back(item);
    }
    for (const auto &d : out)
        if (d.empty()) throw BadValue{"entries must be folder paths"};
    return out;
}
bool bool_value(const YAML::Node &n) {
    bool b = false;
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, b)) throw BadValue{"must be true or false"};
    return b;
}
std::vector<std::string> list_value(const YAML::Node &n) {
    std::vector<std::string> out;
    if (n.IsSequence()) {
        for (const auto &item : n) out.push_back(scalar(item));
    } else {
        std::stringstream ss(scalar(n));
        for (std::string item; std::getline(ss, item, ',');)
            if (!item.empty()) out.push_back(item);
    }
    for (const auto &p : out)
        if (p.rfind("tcp://", 0) != 0 || p.find(':', 6) == std::string::npos)
            throw BadValue{"entries must be tcp://host:port, got \"" + p + "\""};
    return out;
}

std::string bind_value(const YAML::Node &n) {
    std::string s = scalar(n);
    if (auto why = check_bind_address(s); !why.empty()) throw BadValue{why};
    return s;
}
std::vector<std::string> origins_value(const YAML::Node &n) {
    if (!n.IsSequence()) return split_origins(scalar(n));
    std::vector<std::string> out;
    for (const auto &item : n) out.push_back(scalar(item));
    return out;
}

} // namespace

std::string local_host_name() {
    char buf[256] = {0};
    if (::gethostname(buf, sizeof buf - 1) != 0) return "";
    return buf;
}

namespace {
std::string apply_yaml_document(const std::filesystem::path &file, Options &o, const std::set<std::string> &explicit_keys,
                                const std::string &host_name);
} // namespace

// yaml-cpp throws from as<>() on a key that is not a plain name (a list or
// a mapping as key, found by fuzz_yaml_input): the whole file is then refused.
std::string apply_yaml_config(const std::filesystem::path &file, Options &o, const std::set<std::string> &explicit_keys,
                              const std::string &host_name) {
    try {
        return apply_yaml_document(file, o, explicit_keys, host_name);
    } catch (const YAML::Exception &e) {
        return file.string() + ": line " + std::to_string(e.mark.line + 1) + ": keys must be plain names (" + e.msg + ")";
    }
}

namespace {
std::string apply_yaml_document(const std::filesystem::path &file, Options &o, const std::set<std::string> &explicit_keys,
                                const std::string &host_name) {
    YAML::Node root;
    try {
        root = YAML::LoadFile(file.string());
    } catch (const YAML::BadFile &) {
        return file.string() + ": cannot read the file";
    } catch (const YAML::Exception &e) {
        return file.string() + ": not valid YAML: " + e.what();
    }
    if (root.IsNull()) return "";
    if (!root.IsMap()) return file.string() + ": the top level must be a mapping (cluster:, api:, models:)";

    using Setter = std::function<void(const YAML::Node &)>;
    const std::map<std::string, Setter> setters{
        {"cluster.namespace", [&](const YAML::Node &n) { o.cluster_namespace = scalar(n); }},
        {"cluster.port", [&](const YAML::Node &n) { o.cluster_port = port_value(n); }},
        {"cluster.bootstrap_peers", [&](const YAML::Node &n) { o.bootstrap_peers = list_value(n); }},
        {"cluster.secret", [&](const YAML::Node &n) { o.cluster_secret = scalar(n); }},
        {"cluster.force_master", [&](const YAML::Node &n) { o.force_master = bool_value(n); }},
        {"cluster.require_secret", [&](const YAML::Node &n) { o.require_cluster_secret = bool_value(n); }},
        {"api.port", [&](const YAML::Node &n) { o.api_port = port_value(n); }},
        {"api.bind", [&](const YAML::Node &n) { o.api_bind = bind_value(n); }},
        {"api.enabled", [&](const YAML::Node &n) { o.no_api = !bool_value(n); }},
        // access (access_options.hpp)
        {"api.keys", [&](const YAML::Node &n) { // relative: to the yaml file's folder
             const std::filesystem::path p = scalar(n);
             o.api_keys_file = (p.is_relative() ? file.parent_path() / p : p).string();
         }},
        {"api.cors_origins", [&](const YAML::Node &n) { o.cors_origins = origins_value(n); }},
        {"cluster.bind", [&](const YAML::Node &n) { o.cluster_bind = bind_value(n); }},
        {"api.threads", [&](const YAML::Node &n) { o.api_threads = int_value(n, 1, 65536); }},
        {"api.head_timeout_ms", [&](const YAML::Node &n) { o.api_head_timeout_ms = int_value(n, 100, 600000); }},
        {"models.dirs", [&](const YAML::Node &n) { o.model_dirs = dirs_value(n); }},
    };
    // One level of sections (cluster:, api:); `prefix` names where we are
    // ("" at the top, "nodes.<host>." inside a per-node override).
    auto apply_sections = [&](const YAML::Node &map, const std::string &prefix) -> std::string {
        for (const auto &section : map) {
            const std::string sname = section.first.as<std::string>();
            if (sname == "nodes" && prefix.empty()) continue; // per-node overrides, applied after
            if (sname != "cluster" && sname != "api" && sname != "models")
                return file.string() + ": unknown key \"" + prefix + sname + "\" (known: cluster, api, models" +
                       (prefix.empty() ? ", nodes" : "") + ")";
            if (section.second.IsNull()) continue;
            if (!section.second.IsMap()) return file.string() + ": " + prefix + sname + ": must be a mapping";
            for (const auto &kv : section.second) {
                const std::string key = sname + "." + kv.first.as<std::string>();
                auto it = setters.find(key);
                if (it == setters.end()) {
                    std::string known;
                    for (const auto &[k, _] : setters)
                        if (k.rfind(sname + ".", 0) == 0) known += (known.empty() ? "" : ", ") + k;
                    return file.string() + ": unknown key \"" + prefix + key + "\" (known: " + known + ")";
                }
                // The setters write to `o`: swap a copy in so a value is
                // validated even when a flag or variable wins over it.
                Options scratch = o;
                try {
                    std::swap(scratch, o);
                    it->second(kv.second);
                    std::swap(scratch, o);
                } catch (const BadValue &b) {
                    std::swap(scratch, o);
                    return file.string() + ": " + prefix + key + ": " + b.why;
                }
                if (!explicit_keys.count(key)) o = std::move(scratch);
            }
        }
        return "";
    };
    if (auto err = apply_sections(root, ""); !err.empty()) return err;

    // nodes: {<hostname>: {cluster: ..., api: ...}}: this host's overrides
    // win over the shared sections (flags and environment still win).
    if (const YAML::Node nodes = root["nodes"]; nodes && !nodes.IsNull()) {
        if (!nodes.IsMap()) return file.string() + ": nodes: must be a mapping of host name to overrides";
        for (const auto &host : nodes) {
            const std::string name = host.first.as<std::string>();
            if (host.second.IsNull()) continue;
            if (!host.second.IsMap()) return file.string() + ": nodes." + name + ": must be a mapping (cluster:, api:)";
            // Every host's overrides are validated; only ours are kept.
            Options keep = o;
            if (auto err = apply_sections(host.second, "nodes." + name + "."); !err.empty()) return err;
            if (name != host_name) o = std::move(keep);
        }
    }
    return "";
}

} // namespace

} // namespace skulk::config
