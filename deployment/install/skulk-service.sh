#!/usr/bin/env bash
# What the Skulk service runs (skulk.service on Linux, the
# foundation.foxlight.skulk LaunchAgent on macOS):
#   1. on macOS, reads ~/.skulk/skulk.env (systemd reads it itself), rotates
#      the captured stdout/stderr files and stops a crash loop (5 starts in
#      5 minutes: exit 0, which launchd does not restart);
#   2. SKULK_AUTO_UPDATE=1 and a source checkout: git pull --ff-only, then
#      rebuild; each failure is logged to ~/.skulk/logs/skulk.prep.log and
#      ignored;
#   3. execs skulk-host with $SKULK_VERBOSITY and $SKULK_EXTRA_ARGS (so the
#      service manager's stop signal reaches it directly).
#   skulk-service.sh [--launchd]
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# shellcheck source=service-lib.sh
. "$here/service-lib.sh"

logs="$HOME/.skulk/logs"
mkdir -p "$logs"
launchd=0
[ "${1:-}" = "--launchd" ] && launchd=1

if [ "$launchd" = 1 ]; then
  skulk_load_env_file "${SKULK_ENV_FILE:-$HOME/.skulk/skulk.env}"
  # launchd has no StartLimitBurst: give up after 5 starts in 300 s, once;
  # the next start (a person's kickstart or bootstrap) goes ahead.
  starts="$HOME/.skulk/.service-starts"
  if [ -f "$starts.gave-up" ]; then
    rm -f "$starts.gave-up" "$starts"
  fi
  now="$(date +%s)"
  recent="$(awk -v now="$now" 'now - $1 < 300' "$starts" 2>/dev/null)"
  printf '%s\n%s\n' "$recent" "$now" | sed '/^$/d' >"$starts"
  if [ "$(wc -l <"$starts")" -gt 5 ]; then
    echo "skulk: started 5 times within 5 minutes: giving up until you start it again" \
      "(launchctl kickstart -k gui/$(id -u)/foundation.foxlight.skulk); read the log above for why" >&2
    touch "$starts.gave-up"
    exit 0
  fi
  keep="${SKULK_CAPTURE_KEEP_BYTES:-5242880}"
  skulk_truncate_capture "$logs/skulk.stdout.log" "$keep"
  skulk_truncate_capture "$logs/skulk.stderr.log" "$keep"
fi

bin="${SKULK_BIN:-${SKULK_INSTALLED_BIN:-$repo/build/bin/skulk-host}}"

# Boot-time update of a source checkout (not of a packaged install).
checkout=0
[ -e "$repo/.git" ] && command -v git >/dev/null 2>&1 && checkout=1
auto_update="${SKULK_AUTO_UPDATE:-$checkout}"
if [ "$auto_update" = 1 ] && [ "$checkout" = 1 ]; then
  prep="$logs/skulk.prep.log"
  # Bounded: keep the last 1 MB of earlier boots.
  if [ -f "$prep" ] && [ "$(wc -c <"$prep")" -gt 1048576 ]; then
    tail -c 524288 "$prep" >"$prep.tmp" && mv "$prep.tmp" "$prep"
  fi
  build_dir="$(cd "$(dirname "$bin")/.." 2>/dev/null && pwd || true)"
  {
    echo "=== $(date -u +%Y-%m-%dT%H:%M:%SZ) boot prep of $repo"
    if git -C "$repo" pull --ff-only; then echo "git pull: ok"; else echo "git pull failed (ignored): running the revision on disk"; fi
    if [ -n "$build_dir" ] && [ -f "$build_dir/CMakeCache.txt" ]; then
      if nice -n 5 cmake --build "$build_dir"; then echo "build: ok"; else echo "build failed (ignored): running the binary on disk"; fi
    else
      echo "no CMake build dir next to $bin: not rebuilt"
    fi
  } >>"$prep" 2>&1
fi

if [ ! -x "$bin" ]; then
  echo "skulk: $bin does not exist or is not executable (not built? run deployment/dev.sh build, or set SKULK_BIN in ~/.skulk/skulk.env)" >&2
  exit 1
fi

# The earlier product's name for the namespace.
if [ -z "${SKULK_NAMESPACE:-}" ] && [ -n "${SKULK_LIBP2P_NAMESPACE:-}" ]; then
  export SKULK_NAMESPACE="$SKULK_LIBP2P_NAMESPACE"
fi
verbosity="${SKULK_VERBOSITY:-}"
extra="${SKULK_EXTRA_ARGS:-}"
unset SKULK_INSTALLED_BIN SKULK_VERBOSITY SKULK_EXTRA_ARGS SKULK_LIBP2P_NAMESPACE
skulk_unset_empty_vars
# shellcheck disable=SC2086 # the flags are words on purpose
exec "$bin" $verbosity $extra
