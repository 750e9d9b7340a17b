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
