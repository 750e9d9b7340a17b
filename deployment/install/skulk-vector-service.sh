#!/usr/bin/env bash
# What the foundation.foxlight.skulk-vector LaunchAgent runs: Vector tailing
# Skulk's captured stdout (deployment/logging/vector-external.yaml) with the
# settings of ~/.skulk/skulk.env. Without `vector` it fails at once with
# how to install it (launchd retries every 10 s).
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# shellcheck source=service-lib.sh
. "$here/service-lib.sh"
skulk_load_env_file "${SKULK_ENV_FILE:-$HOME/.skulk/skulk.env}"
skulk_unset_empty_vars
export PATH="$PATH:/opt/homebrew/bin:/usr/local/bin"
export SKULK_LOG_FILE="${SKULK_LOG_FILE:-$HOME/.skulk/logs/skulk.stdout.log}"
export SKULK_VECTOR_DATA_DIR="${SKULK_VECTOR_DATA_DIR:-$HOME/.skulk/vector}"
export SKULK_LOGGING_INGEST_URL="${SKULK_LOGGING_INGEST_URL:-http://localhost:9428/insert/jsonline?_stream_fields=node_id,component&_msg_field=msg&_time_field=ts}"
mkdir -p "$SKULK_VECTOR_DATA_DIR"
if ! command -v vector >/dev/null 2>&1; then
  echo "skulk-vector: vector is not installed: brew install vectordotdev/brew/vector (or see vector.dev), then" \
    "launchctl kickstart -k gui/$(id -u)/foundation.foxlight.skulk-vector" >&2
  exit 1
fi
echo "skulk-vector: shipping $SKULK_LOG_FILE to $SKULK_LOGGING_INGEST_URL" >&2
exec vector --config "${SKULK_VECTOR_EXTERNAL_CONFIG:-$repo/deployment/logging/vector-external.yaml}"
