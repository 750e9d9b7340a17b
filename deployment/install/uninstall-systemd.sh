#!/usr/bin/env bash
# Removes the Skulk systemd user service (stops it, disables it, deletes the
# unit). ~/.skulk (the env file), models and config stay.
exec "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/install-systemd.sh" --uninstall "$@"
