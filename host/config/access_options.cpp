#include "config/access_options.hpp"

#include <arpa/inet.h>

namespace skulk::config {

std::string check_bind_address(std::string_view address) {
    if (address == "*" || address == "0.0.0.0") return "";
    in_addr a{};
    const std::string s(address);
    if (::inet_pton(AF_INET, s.c_str(), &a) == 1) return "";
    return "must be an IPv4 address of this host (or 0.0.0.0 / * for every interface), got \"" + s + "\"";
}

std::vector<std::string> split_origins(std::string_view list) {
    std::vector<std::string> out;
    size_t i = 0;
    while (i <= list.size()) {
        size_t j = list.find(',', i);
        if (j == std::string_view::npos) j = list.size();
        std::string_view item = list.substr(i, j - i);
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
        if (!item.empty()) out.emplace_back(item);
        i = j + 1;
    }
    return out;
}

} // namespace skulk::config
