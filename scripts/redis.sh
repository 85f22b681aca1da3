#!/usr/bin/env bash
# redis.sh start|stop DIR PORT — Debian's redis-server on 127.0.0.1, data in DIR.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cmd="$1" dir="$2" port="${3:-6380}"
pidfile="$dir/redis.pid"
case "$cmd" in
  start)
    command -v redis-server >/dev/null || die "redis-server is not installed (run scripts/setup.sh)"
    if pid_alive "$pidfile"; then log "Redis already running on $port"; exit 0; fi
    mkdir -p "$dir"
    redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --daemonize yes \
      --pidfile "$pidfile" --logfile "$dir/redis.log" --save 60 1000 --appendonly no \
      --protected-mode yes
    for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && { log "Redis is up on 127.0.0.1:$port"; exit 0; }; sleep 0.1; done
    die "Redis did not start (log: $dir/redis.log)"
    ;;
  stop) stop_pidfile "$pidfile" 10 ;;
  *) die "usage: redis.sh start|stop DIR PORT" ;;
esac
