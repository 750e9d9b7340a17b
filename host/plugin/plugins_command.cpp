#include "plugin/plugins_command.hpp"

#include "config/options.hpp"
#include "log/logging.hpp"
#include "plugin/record_json.hpp"
#include "plugin/registry.hpp"

#include <boost/program_options.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>

namespace po = boost::program_options;

namespace skulk::plugin {
namespace {

std::vector<std::filesystem::path> dirs_from_env() {
    std::vector<std::filesystem::path> out;
    const char *env = std::getenv("SKULK_PLUGIN_DIR");
    if (!env) return out;
    std::stringstream ss(env);
    for (std::string item; std::getline(ss, item, ':');)
        if (!item.empty()) out.emplace_back(item);
    return out;
}

void print_text(const Registry &registry) {
    for (const auto &dir : registry.dirs()) {
        std::error_code ec;
        std::printf("plugin dir %s%s\n", dir.string().c_str(),
                    std::filesystem::is_directory(dir, ec) ? "" : " (not found)");
    }
    size_t usable = 0;
    for (const auto &r : registry.records()) {
        std::printf("\n%s\n", r.path.string().c_str());
        if (r.usable) {
            ++usable;
            std::printf("  ok       %s %s %s, ABI %u.%u, score %d, tags [%s]\n", kind_name(r.kind).c_str(),
                        r.name.c_str(), r.version.c_str(), r.abi_major, r.abi_minor, r.score,
                        fmt::format("{}", fmt::join(r.backend_tags, ", ")).c_str());
        } else {
            if (!r.name.empty())
                std::printf("  plugin   %s %s %s, ABI %u.%u\n", kind_name(r.kind).c_str(), r.name.c_str(),
                            r.version.c_str(), r.abi_major, r.abi_minor);
            std::printf("  REFUSED  %s\n", r.refused_reason.c_str());
        }
    }
    std::printf("\n%zu file(s) found, %zu usable, %zu refused\n", registry.records().size(), usable,
                registry.records().size() - usable);
}

} // namespace

int plugins_command(int argc, char **argv) {
    std::vector<std::string> dirs;
    bool json = false;
    int verbose = 0;
    po::options_description desc("Usage: skulk-host plugins [--plugin-dir DIR]... [--json]\n\n"
                                 "Lists every *.so found in the plugin directories with its kind, name,\n"
                                 "version, ABI, score and backend tags, or why it was refused.\n\nOptions");
    desc.add_options()("help,h", "show this help and exit")(
        "plugin-dir", po::value<std::vector<std::string>>(&dirs),
        "plugin directory (repeatable; default $SKULK_PLUGIN_DIR, else the install's lib dir, then plugins/ next "
        "to the binary)")("json", po::bool_switch(&json), "print one JSON document instead of text")(
        "verbose,v", po::bool_switch()->notifier([&](bool on) { verbose = on ? 1 : 0; }),
        "log each probe (debug)");
    po::variables_map vm;
    try {
        po::store(po::command_line_parser(argc, argv).options(desc).run(), vm);
        po::notify(vm);
    } catch (const po::error &e) {
        std::fprintf(stderr, "skulk-host plugins: %s\nTry 'skulk-host plugins --help'.\n", e.what());
        return 2;
    }
    if (vm.count("help")) {
        std::cout << desc << "\n";
        return 0;
    }
    // The listing is the output; the registry's own log lines only on -v.
    log::init(verbose ? 1 : -2);
    std::vector<std::filesystem::path> paths(dirs.begin(), dirs.end());
    if (paths.empty()) paths = dirs_from_env();
    Registry registry(paths);
    registry.scan();
    if (json) {
        nlohmann::json out = {{"dirs", nlohmann::json::array()}, {"plugins", nlohmann::json::array()}};
        for (const auto &d : registry.dirs()) {
            std::error_code ec;
            out["dirs"].push_back({{"path", d.string()}, {"exists", std::filesystem::is_directory(d, ec)}});
        }
        for (const auto &r : registry.records()) out["plugins"].push_back(record_to_json(r));
        std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    } else {
        print_text(registry);
    }
    return 0;
}

} // namespace skulk::plugin
