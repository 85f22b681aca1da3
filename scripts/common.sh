# Shared paths and helpers for the service scripts. Sourced, never run.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/.cache"
VAR="$ROOT/var"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
ES_VERSION=8.14.1
ES_HOME="$CACHE/elasticsearch/elasticsearch-$ES_VERSION"
# Elasticsearch refuses to run as root: when we are root it runs as this system user.
ES_USER=segsearch

log() { printf '[segsearch] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# stop_pidfile FILE [SECONDS]: TERM the process group recorded in FILE, KILL after a grace.
stop_pidfile() {
  local f="$1" grace="${2:-30}" pid
  [ -f "$f" ] || return 0
  pid="$(cat "$f")"
  if kill -0 "$pid" 2>/dev/null; then
    # The whole process group when the pid leads one (gunicorn workers, RQ work horses).
    local target="$pid"
    [ "$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')" = "$pid" ] && target="-$pid"
    kill -TERM -- "$target" 2>/dev/null || true
    for _ in $(seq "$((grace * 5))"); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -KILL -- "$target" 2>/dev/null
  fi
  rm -f "$f"
}
