// skulk-host: the cluster daemon. `skulk-host plugins` lists plugins,
// `skulk-host api-key` makes API keys (api/auth_cli.hpp); anything else runs
// the daemon (a stray word is a usage error, exit 2).
#include "api/auth_cli.hpp"
#include "config/options.hpp"
#include "daemon/daemon.hpp"
#include "log/log_control.hpp"
#include "log/logging.hpp"
#include "plugin/plugins_command.hpp"

#include <sys/resource.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace {

// Every HTTP connection is a descriptor, and an API node is expected to hold
// thousands at once (api.threads, idle clients): the soft RLIMIT_NOFILE
// (often 1024) goes up to the hard limit, which the operator controls.
void raise_open_file_limit() {
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur >= lim.rlim_max) return;
    lim.rlim_cur = lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0)
        skulk::log::get("daemon")->warn("cannot raise the open-file limit to {}: {}", lim.rlim_max, std::strerror(errno));
}

} // namespace

int main(int argc, char **argv) {
    if (argc > 1 && std::strcmp(argv[1], "plugins") == 0) return skulk::plugin::plugins_command(argc - 1, argv + 1);
    if (argc > 1 && std::strcmp(argv[1], "api-key") == 0) return skulk::api::api_key_command(argc - 1, argv + 1);

    auto parsed = skulk::config::parse_daemon_args(argc, argv);
    if (parsed.outcome != skulk::config::ParseOutcome::run) {
        std::fprintf(parsed.outcome == skulk::config::ParseOutcome::exit_ok ? stdout : stderr, "%s\n",
                     parsed.message.c_str());
        return parsed.outcome == skulk::config::ParseOutcome::exit_ok ? 0 : 2;
    }
    if (auto err = skulk::log::init_daemon(parsed.options.verbosity); !err.empty()) {
        std::fprintf(stderr, "%s\n", err.c_str());
        return 2;
    }
    raise_open_file_limit();
    int rc = 0;
    {
        skulk::daemon::Daemon daemon(std::move(parsed.options));
        rc = daemon.run();
    }
    skulk::log::shutdown(); // the last lines reach skulk.log and the shipper
    return rc;
}
