#!/usr/bin/env bash
# Installs Skulk as macOS LaunchAgents (no sudo):
#   foundation.foxlight.skulk         the service (restarted after a crash,
#                                     10 s apart; stdout/stderr in ~/.skulk/logs/)
#   foundation.foxlight.skulk-vector  Vector shipping the logs (skip: --no-vector)
# and the env file ~/.skulk/skulk.env (first install only).
#   deployment/install/install-launchd.sh [--no-vector] [--binary PATH]
#   deployment/install/install-launchd.sh --uninstall
# Works from any directory; running it again updates and restarts the agents.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
die() { echo "install-launchd.sh: $*" >&2; exit 1; }
say() { echo "install-launchd.sh: $*"; }
# shellcheck source=service-lib.sh
. "$here/service-lib.sh"

no_vector=0 uninstall=0 binary=""
while [ $# -gt 0 ]; do
  case "$1" in
    --no-vector) no_vector=1 ;;
    --uninstall) uninstall=1 ;;
    --binary) [ $# -ge 2 ] || die "--binary needs a path"; binary="$2"; shift ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (try --help)" ;;
  esac
  shift
done

command -v launchctl >/dev/null 2>&1 || die "launchctl not found: this installer is for macOS (on Linux use deployment/install/install-systemd.sh)"

uid="$(id -u)"
domain="gui/$uid"
agents="$HOME/Library/LaunchAgents"
skulk_label="foundation.foxlight.skulk"
vector_label="foundation.foxlight.skulk-vector"
skulk_plist="$agents/$skulk_label.plist"
vector_plist="$agents/$vector_label.plist"
skulk_dir="$HOME/.skulk"
logs="$skulk_dir/logs"
env_file="$skulk_dir/skulk.env"

# Stops and forgets an agent if it is loaded (not an error when it is not).
unload() { launchctl bootout "$domain/$1" >/dev/null 2>&1 || true; }
load() {
  launchctl bootstrap "$domain" "$2" || die "launchctl bootstrap $domain $2 failed (see above)"
  launchctl enable "$domain/$1" || true
}

if [ "$uninstall" = 1 ]; then
  unload "$vector_label"
  unload "$skulk_label"
  rm -f "$skulk_plist" "$vector_plist"
  say "removed both agents; $env_file, your models and config are untouched"
  exit 0
fi

checkout=0
[ -e "$repo/.git" ] && checkout=1
skulk_resolve_binary "Build it first (cmake -S . -B build -G Ninja && cmake --build build), or pass --binary PATH."

mkdir -p "$agents" "$logs"

if [ ! -e "$env_file" ]; then
  # With the Vector agent: JSON on stdout for it to tail. Without: the
  # in-process shipper, once SKULK_LOGGING_ENABLED=1 is set.
  enabled=1 external=1
  [ "$no_vector" = 1 ] && enabled=0 external=0
  skulk_write_env_file "$here/skulk.env.example" "$env_file" \
    -e "s|^SKULK_AUTO_UPDATE=.*|SKULK_AUTO_UPDATE=$checkout|" \
    -e "s|^SKULK_LOGGING_ENABLED=.*|SKULK_LOGGING_ENABLED=$enabled|" \
    -e "s|^SKULK_LOGGING_EXTERNAL=.*|SKULK_LOGGING_EXTERNAL=$external|"
  say "wrote $env_file (edit it, then: launchctl kickstart -k $domain/$skulk_label)"
else
  say "kept your $env_file (diff it against $here/skulk.env.example for new settings)"
fi

xml() { local s="$1"; s="${s//&/&amp;}"; s="${s//</&lt;}"; s="${s//>/&gt;}"; printf '%s' "$s"; }
path_env="/opt/homebrew/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"

# write_plist LABEL SCRIPT STDOUT STDERR [ARG]: one agent, written whole and renamed into place.
write_plist() {
  local label="$1" script="$2" out="$3" err="$4" arg="${5:-}" file="$agents/$1.plist"
  {
    cat <<PLIST
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>$label</string>
  <key>ProgramArguments</key>
  <array>
    <string>/bin/bash</string>
    <string>$(xml "$script")</string>
PLIST
    [ -n "$arg" ] && printf '    <string>%s</string>\n' "$arg"
    cat <<PLIST
  </array>
  <key>EnvironmentVariables</key>
  <dict>
    <key>PATH</key>
    <string>$path_env</string>
    <key>SKULK_INSTALLED_BIN</key>
    <string>$(xml "$binary")</string>
  </dict>
  <key>WorkingDirectory</key>
  <string>$(xml "$HOME")</string>
  <key>RunAtLoad</key>
  <true/>
  <!-- Restarted when it exits with an error or a signal (a crash), not after a clean stop. -->
  <key>KeepAlive</key>
  <dict>
    <key>SuccessfulExit</key>
    <false/>
  </dict>
  <key>ThrottleInterval</key>
  <integer>10</integer>
  <key>ExitTimeOut</key>
  <integer>30</integer>
  <key>ProcessType</key>
  <string>Interactive</string>
  <key>SoftResourceLimits</key>
  <dict>
    <key>NumberOfFiles</key>
    <integer>65536</integer>
  </dict>
  <key>StandardOutPath</key>
  <string>$(xml "$out")</string>
  <key>StandardErrorPath</key>
  <string>$(xml "$err")</string>
</dict>
</plist>
PLIST
  } >"$file.tmp"
  if command -v plutil >/dev/null 2>&1; then plutil -lint "$file.tmp" >/dev/null || die "$file.tmp is not a valid plist"; fi
  mv "$file.tmp" "$file"
}

write_plist "$skulk_label" "$here/skulk-service.sh" "$logs/skulk.stdout.log" "$logs/skulk.stderr.log" --launchd
unload "$skulk_label"
load "$skulk_label" "$skulk_plist"
say "installed and started $skulk_label (runs $binary)"

if [ "$no_vector" = 1 ]; then
  if [ -e "$vector_plist" ]; then
    unload "$vector_label"
    rm -f "$vector_plist"
    say "removed $vector_label (--no-vector)"
  fi
else
  write_plist "$vector_label" "$here/skulk-vector-service.sh" "$logs/vector.stdout.log" "$logs/vector.stderr.log"
  unload "$vector_label"
  load "$vector_label" "$vector_plist"
  say "installed and started $vector_label"
  command -v vector >/dev/null 2>&1 || PATH="$path_env" command -v vector >/dev/null 2>&1 ||
    say "warning: vector is not installed, so no logs are shipped yet: brew install vectordotdev/brew/vector"
fi
say "check it: launchctl print $domain/$skulk_label | grep \"state =\"   logs: tail -f $logs/skulk.stderr.log"
