#!/usr/bin/env bash
# Removes both Skulk LaunchAgents (the service and the Vector shipper).
# ~/.skulk (the env file), models and config stay.
exec "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/install-launchd.sh" --uninstall "$@"
