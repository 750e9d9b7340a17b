// The access settings of Options (docs/operations.md, "Security"): API keys
// file, CORS origins, and the bind addresses of the API and the cluster.
// Their checks live here so the flag, variable and skulk.yaml paths agree.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace skulk::config {

// "" when `address` is a bind address for a listener (an IPv4 address;
// "*" or 0.0.0.0 = every interface), else why not.
std::string check_bind_address(std::string_view address);

// "a,b" -> {"a", "b"} (spaces around entries dropped, empty entries skipped).
std::vector<std::string> split_origins(std::string_view list);

} // namespace skulk::config
