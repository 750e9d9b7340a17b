# Shared by the installers and the service wrappers (sourced, not run).

# Exports each KEY=value line of an env file (comments and blank lines
# skipped). Not `source`: a value such as an URL with '&' must stay text,
# as systemd's EnvironmentFile= reads it.
skulk_load_env_file() {
  local file="$1" line key
  [ -f "$file" ] || return 0
  while IFS= read -r line || [ -n "$line" ]; do
    line="${line%$'\r'}"
    case "$line" in ''|'#'*|[[:space:]]*'#'*) continue ;; esac
    key="${line%%=*}"
    [ "$key" != "$line" ] || continue
    [[ "$key" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || continue
    export "$key=${line#*=}"
  done <"$file"
}

# An empty SKULK_* variable means "the default": drop it, so the daemon
# sees it unset (several settings treat an empty value as a value).
skulk_unset_empty_vars() {
  local v
  for v in $(compgen -e); do
    case "$v" in SKULK_*) [ -n "${!v}" ] || unset "$v" ;; esac
  done
}

# Keeps at most `keep` bytes of the end of a file in file.1 and empties the
# file (the service manager's capture files: fresh each launch).
skulk_truncate_capture() {
  local file="$1" keep="$2"
  [ -s "$file" ] || return 0
  tail -c "$keep" "$file" >"$file.1" 2>/dev/null || true
  : >"$file"
}

# The installers' part (they define die and say, and set repo, binary and
# checkout before calling).

# Resolves `binary`: --binary as given, else the checkout's build
# (SKULK_BUILD_DIR as deployment/dev.sh reads it: absolute, or relative to
# the checkout), else skulk-host on PATH (a packaged install); made absolute.
# build_hint: how to build it, for the message when there is none.
skulk_resolve_binary() {
  local build_hint="$1" build_dir="${SKULK_BUILD_DIR:-build}"
  case "$build_dir" in /*) ;; *) build_dir="$repo/$build_dir" ;; esac
  if [ -z "$binary" ]; then
    if [ -x "$build_dir/bin/skulk-host" ]; then
      binary="$build_dir/bin/skulk-host"
    elif [ "$checkout" = 0 ] && command -v skulk-host >/dev/null 2>&1; then
      binary="$(command -v skulk-host)"
    else
      die "skulk-host is not built: $build_dir/bin/skulk-host does not exist. $build_hint"
    fi
  fi
  [ -x "$binary" ] || die "$binary is not an executable skulk-host (--binary)"
  binary="$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")"
}

# Writes the env file from the template with the given sed expressions
# (-e ...), mode 600, renamed into place: callers do it on the first
# install only, so a re-install never overwrites the operator's edits.
skulk_write_env_file() {
  local template="$1" file="$2"
  shift 2
  sed "$@" "$template" >"$file.tmp"
  chmod 600 "$file.tmp"
  mv "$file.tmp" "$file"
}
