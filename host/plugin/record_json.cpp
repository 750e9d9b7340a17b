#include "plugin/record_json.hpp"

namespace skulk::plugin {

nlohmann::json record_to_json(const PluginRecord &r) {
    nlohmann::json j = {{"path", r.path.string()},
                        {"usable", r.usable},
                        {"kind", r.kind == 0 ? nlohmann::json(nullptr) : nlohmann::json(kind_name(r.kind))},
                        {"kind_id", r.kind},
                        {"name", r.name},
                        {"version", r.version},
                        {"abi_major", r.abi_major},
                        {"abi_minor", r.abi_minor},
                        {"score", r.score},
                        {"backend_tags", r.backend_tags}};
    if (!r.usable) j["refused_reason"] = r.refused_reason;
    return j;
}

PluginRecord record_from_json(const nlohmann::json &j) {
    PluginRecord r;
    r.path = j.at("path").get<std::string>();
    r.usable = j.at("usable").get<bool>();
    r.refused_reason = j.value("refused_reason", std::string());
    r.kind = j.at("kind_id").get<uint32_t>();
    r.name = j.at("name").get<std::string>();
    r.version = j.at("version").get<std::string>();
    r.abi_major = j.at("abi_major").get<uint32_t>();
    r.abi_minor = j.at("abi_minor").get<uint32_t>();
    r.score = j.at("score").get<int32_t>();
    r.backend_tags = j.at("backend_tags").get<std::vector<std::string>>();
    return r;
}

} // namespace skulk::plugin
