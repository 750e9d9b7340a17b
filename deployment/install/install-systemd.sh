#!/usr/bin/env bash
# Installs Skulk as a systemd *user* service (no root): the unit
# ~/.config/systemd/user/skulk.service, the env file ~/.skulk/skulk.env (first
# install only), lingering (so it runs without a login session), and starts it.
#   deployment/install/install-systemd.sh [--no-vector] [--binary PATH]
#   deployment/install/install-systemd.sh --uninstall
# Works from any directory; running it again updates the unit and restarts.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
die() { echo "install-systemd.sh: $*" >&2; exit 1; }
say() { echo "install-systemd.sh: $*"; }
# shellcheck source=service-lib.sh
. "$here/service-lib.sh"

no_vector=0 uninstall=0 binary=""
while [ $# -gt 0 ]; do
  case "$1" in
    --no-vector) no_vector=1 ;;
    --uninstall) uninstall=1 ;;
    --binary) [ $# -ge 2 ] || die "--binary needs a path"; binary="$2"; shift ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (try --help)" ;;
  esac
  shift
done

unit_dir="${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user"
unit="$unit_dir/skulk.service"
skulk_dir="$HOME/.skulk"
env_file="$skulk_dir/skulk.env"

command -v systemctl >/dev/null 2>&1 || die "systemctl not found: this installer needs Linux with systemd (on macOS use deployment/install/install-launchd.sh)"
if ! err="$(systemctl --user show-environment 2>&1 >/dev/null)"; then
  die "systemd is not running as your user manager (systemctl --user: ${err:-failed}). Log in with a normal session (ssh or a desktop login, not su/sudo), check that XDG_RUNTIME_DIR is set, and run this again."
fi

if [ "$uninstall" = 1 ]; then
  systemctl --user disable --now skulk.service >/dev/null 2>&1 || true
  rm -f "$unit"
  systemctl --user daemon-reload
  systemctl --user reset-failed skulk.service >/dev/null 2>&1 || true
  say "removed $unit; $env_file, your models and config are untouched"
  exit 0
fi

# The binary: --binary, else the checkout's build, else skulk-host on PATH (a packaged install).
checkout=0
[ -e "$repo/.git" ] && checkout=1
skulk_resolve_binary "Run deployment/dev.sh build first (or pass --binary PATH)."

mkdir -p "$unit_dir" "$skulk_dir/logs"

# The env file: copied on the first install only, never overwritten.
if [ ! -e "$env_file" ]; then
  # Linux default: the in-process Vector shipper (SKULK_LOGGING_EXTERNAL=0);
  # --no-vector: JSON on stdout (the journal) for an external shipper instead.
  external=0
  [ "$no_vector" = 1 ] && external=1
  skulk_write_env_file "$here/skulk.env.example" "$env_file" \
    -e "s|^SKULK_AUTO_UPDATE=.*|SKULK_AUTO_UPDATE=$checkout|" \
    -e "s|^SKULK_LOGGING_EXTERNAL=.*|SKULK_LOGGING_EXTERNAL=$external|"
  say "wrote $env_file (edit it, then: systemctl --user restart skulk)"
else
  say "kept your $env_file (diff it against $here/skulk.env.example for new settings)"
  [ "$no_vector" = 1 ] && grep -q '^SKULK_LOGGING_EXTERNAL=0' "$env_file" &&
    say "note: --no-vector only shapes a new env file; set SKULK_LOGGING_EXTERNAL=1 in $env_file yourself"
fi

# The unit, written whole and renamed into place.
sed -e "s|__SKULK_REPO__|$repo|g" -e "s|__SKULK_BIN__|$binary|g" "$here/skulk.service" >"$unit.tmp"
mv "$unit.tmp" "$unit"
say "installed $unit (runs $binary)"

systemctl --user daemon-reload
systemctl --user enable skulk.service >/dev/null

# Lingering: user services keep running after logout and start at boot.
# Normally only root may turn it on, hence the one password prompt.
user="${USER:-$(id -un)}"
if [ "$(loginctl show-user "$user" --property=Linger --value 2>/dev/null || true)" = "yes" ]; then
  say "lingering is already on for $user"
elif loginctl enable-linger "$user" >/dev/null 2>&1; then
  say "turned on lingering for $user"
elif command -v sudo >/dev/null 2>&1 && [ -t 0 ] && echo "install-systemd.sh: enabling lingering needs your password once:" &&
     sudo loginctl enable-linger "$user"; then
  say "turned on lingering for $user"
else
  say "warning: could not turn on lingering: Skulk runs only while you are logged in. Fix: sudo loginctl enable-linger $user"
fi

systemctl --user restart skulk.service
say "started. Check it: systemctl --user status skulk   Logs: journalctl --user -u skulk -f"
