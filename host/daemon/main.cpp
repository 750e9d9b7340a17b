// skulk-host: the cluster daemon. `skulk-host plugins` lists plugins,
// `skulk-host api-key` makes API keys (api/auth_cli.hpp); anything else runs
// the daemon.
#include "api/auth_cli.hpp"
#include "config/options.hpp"
#include "daemon/daemon.hpp"
#include "log/logging.hpp"
#include "plugin/plugins_command.hpp"

#include <cstdio>
#include <cstring>

int main(int argc, char **argv) {
    if (argc > 1 && std::strcmp(argv[1], "plugins") == 0) return skulk::plugin::plugins_command(argc - 1, argv + 1);
    if (argc > 1 && std::strcmp(argv[1], "api-key") == 0) return skulk::api::api_key_command(argc - 1, argv + 1);

    auto parsed = skulk::config::parse_daemon_args(argc, argv);
    if (parsed.outcome != skulk::config::ParseOutcome::run) {
        std::fprintf(parsed.outcome == skulk::config::ParseOutcome::exit_ok ? stdout : stderr, "%s\n",
                     parsed.message.c_str());
        return parsed.outcome == skulk::config::ParseOutcome::exit_ok ? 0 : 2;
    }
    skulk::log::init(parsed.options.verbosity);
    skulk::daemon::Daemon daemon(std::move(parsed.options));
    return daemon.run();
}
