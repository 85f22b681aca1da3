#!/usr/bin/env bash
# es.sh start|stop DIR HTTP_PORT [HEAP]
# Runs the embedded Elasticsearch node on 127.0.0.1 with config, data and logs under DIR,
# waits until the cluster is healthy, and records its pid in DIR/es.pid.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cmd="$1" dir="$2" port="${3:-9200}" heap="${4:-${ES_HEAP:-1g}}"
pidfile="$dir/es.pid"

start() {
  [ -x "$ES_HOME/bin/elasticsearch" ] || die "Elasticsearch is not installed (run scripts/setup.sh)"
  if pid_alive "$pidfile"; then log "Elasticsearch already running on $port"; return 0; fi
  mkdir -p "$dir/config" "$dir/data" "$dir/logs" "$dir/tmp"
  cp "$ES_HOME/config/log4j2.properties" "$dir/config/"
  cat > "$dir/config/jvm.options" <<OPTS
-XX:+UseG1GC
-Djava.io.tmpdir=$dir/tmp
-XX:+ExitOnOutOfMemoryError
-XX:ErrorFile=$dir/logs/hs_err_pid%p.log
-Xms$heap
-Xmx$heap
OPTS
  cat > "$dir/config/elasticsearch.yml" <<YML
cluster.name: segsearch-$port
node.name: segsearch-$port
network.host: 127.0.0.1
http.port: $port
transport.port: $((port + 100))
discovery.type: single-node
# Bound to loopback only; the service is the only client.
xpack.security.enabled: false
path.data: $dir/data
path.logs: $dir/logs
action.destructive_requires_name: true
cluster.routing.allocation.disk.threshold_enabled: false
YML
  local run=()
  if [ "$(id -u)" = 0 ]; then
    id "$ES_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$ES_USER"
    chown -R "$ES_USER" "$dir"
    run=(runuser -u "$ES_USER" --)
  fi
  local java_home="${ES_JAVA_HOME:-}"
  if [ -z "$java_home" ]; then
    for j in /usr/lib/jvm/java-17-openjdk-amd64 /usr/lib/jvm/java-17-openjdk-arm64; do [ -d "$j" ] && java_home="$j" && break; done
  fi
  [ -n "$java_home" ] || java_home="$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")"
  # setsid: its own process group, so stopping it never signals our caller.
  setsid "${run[@]}" env ES_JAVA_HOME="$java_home" ES_PATH_CONF="$dir/config" ES_TMPDIR="$dir/tmp" \
    ES_JAVA_OPTS="" "$ES_HOME/bin/elasticsearch" -p "$dir/es.node.pid" >"$dir/logs/stdout.log" 2>&1 &
  echo $! > "$pidfile"
  log "Elasticsearch starting on 127.0.0.1:$port (logs: $dir/logs)"
  for _ in $(seq 180); do
    if curl -fsS "http://127.0.0.1:$port/_cluster/health?wait_for_status=yellow&timeout=1s" >/dev/null 2>&1; then
      log "Elasticsearch is up on 127.0.0.1:$port"; return 0
    fi
    pid_alive "$pidfile" || { tail -n 30 "$dir/logs/stdout.log" >&2; die "Elasticsearch exited while starting"; }
    sleep 1
  done
  die "Elasticsearch did not become healthy within 180 s (logs: $dir/logs)"
}

stop() {
  # The launcher forks the server JVM: stop the node by its own pid first, then the launcher.
  if [ -f "$dir/es.node.pid" ]; then
    local npid; npid="$(cat "$dir/es.node.pid")"
    kill -TERM "$npid" 2>/dev/null || true
    for _ in $(seq 150); do kill -0 "$npid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$npid" 2>/dev/null || true
    rm -f "$dir/es.node.pid"
  fi
  stop_pidfile "$pidfile" 10
}

case "$cmd" in start) start ;; stop) stop ;; *) die "usage: es.sh start|stop DIR PORT [HEAP]" ;; esac
