// PluginRecord <-> JSON: the probe child's report to its parent, and
// `skulk-host plugins --json`.
#pragma once

#include "plugin/registry.hpp"

#include <nlohmann/json.hpp>

namespace skulk::plugin {

nlohmann::json record_to_json(const PluginRecord &record);
// Throws nlohmann::json::exception when a field is missing or mistyped.
PluginRecord record_from_json(const nlohmann::json &json);

} // namespace skulk::plugin
