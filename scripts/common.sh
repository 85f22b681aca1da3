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
    # An RQ work horse leads a session of its own (os.setsid), outside the worker's group:
    # remember the children now, so a horse left behind by a killed worker dies too
    # instead of writing on as an orphan.
    local children
    children="$(pgrep -P "$pid" 2>/dev/null || true)"
    kill -TERM -- "$target" 2>/dev/null || true
    for _ in $(seq "$((grace * 5))"); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -KILL -- "$target" 2>/dev/null
    for c in $children; do kill -KILL "$c" 2>/dev/null || true; done
  fi
  rm -f "$f"
}

# -- Elasticsearch node lifecycle (scripts/es.sh: one node; scripts/cluster.sh: three) ---

es_java_home() {
  local j
  if [ -n "${ES_JAVA_HOME:-}" ]; then echo "$ES_JAVA_HOME"; return; fi
  for j in /usr/lib/jvm/java-17-openjdk-amd64 /usr/lib/jvm/java-17-openjdk-arm64; do
    [ -d "$j" ] && { echo "$j"; return; }
  done
  dirname "$(dirname "$(readlink -f "$(command -v java)")")"
}

es_jvm_options() {  # DIR HEAP -> the jvm.options text
  cat <<OPTS
-XX:+UseG1GC
-Djava.io.tmpdir=$1/tmp
-XX:+ExitOnOutOfMemoryError
-XX:ErrorFile=$1/logs/hs_err_pid%p.log
-Xms$2
-Xmx$2
OPTS
}

# es_launch DIR: start the node configured in DIR/config in the background; pid in DIR/es.pid.
es_launch() {
  local dir="$1" run=()
  mkdir -p "$dir/tmp" "$dir/logs"
  if [ "$(id -u)" = 0 ]; then  # Elasticsearch refuses root: run as an unprivileged user
    id "$ES_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$ES_USER"
    chown -R "$ES_USER" "$dir"
    run=(runuser -u "$ES_USER" --)
  fi
  # setsid: its own process group, so stopping it never signals our caller.
  setsid "${run[@]}" env ES_JAVA_HOME="$(es_java_home)" ES_PATH_CONF="$dir/config" ES_TMPDIR="$dir/tmp" \
    ES_JAVA_OPTS="" "$ES_HOME/bin/elasticsearch" -p "$dir/es.node.pid" >"$dir/logs/stdout.log" 2>&1 &
  echo $! > "$dir/es.pid"
}

# es_stop DIR: the launcher forks the server JVM: stop the node by its own pid, then the launcher.
es_stop() {
  local dir="$1" npid
  if [ -f "$dir/es.node.pid" ]; then
    npid="$(cat "$dir/es.node.pid")"
    kill -TERM "$npid" 2>/dev/null || true
    for _ in $(seq 150); do kill -0 "$npid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$npid" 2>/dev/null || true
    rm -f "$dir/es.node.pid"
  fi
  stop_pidfile "$dir/es.pid" 10
}

# es_kill DIR: SIGKILL the node's JVM (fault tests), as a crash would.
es_kill() {
  local dir="$1"
  [ -f "$dir/es.node.pid" ] && kill -KILL "$(cat "$dir/es.node.pid")" 2>/dev/null || true
  [ -f "$dir/es.pid" ] && kill -KILL -- "-$(cat "$dir/es.pid")" 2>/dev/null || true
  rm -f "$dir/es.node.pid" "$dir/es.pid"
}
