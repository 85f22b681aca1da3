#!/usr/bin/env bash
# es.sh start|stop DIR HTTP_PORT [HEAP]
# Runs the embedded Elasticsearch node on 127.0.0.1 with config, data and logs under DIR,
# waits until the cluster is healthy, and records its pid in DIR/es.pid.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cmd="$1" dir="$(realpath -m "$2")" port="${3:-9200}" heap="${4:-${ES_HEAP:-1g}}"
pidfile="$dir/es.pid"

start() {
  [ -x "$ES_HOME/bin/elasticsearch" ] || die "Elasticsearch is not installed (run scripts/setup.sh)"
  if pid_alive "$pidfile"; then log "Elasticsearch already running on $port"; return 0; fi
  mkdir -p "$dir/config" "$dir/data" "$dir/logs" "$dir/tmp"
  cp "$ES_HOME/config/log4j2.properties" "$dir/config/"
  es_jvm_options "$dir" "$heap" > "$dir/config/jvm.options"
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
  es_launch "$dir"
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

stop() { es_stop "$dir"; }

case "$cmd" in start) start ;; stop) stop ;; *) die "usage: es.sh start|stop DIR PORT [HEAP]" ;; esac
