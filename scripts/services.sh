#!/usr/bin/env bash
# services.sh start|stop NAME — the whole stack of one instance, in the background:
# Elasticsearch and Redis (unless ES_URL / REDIS_URL point elsewhere), RQ worker(s),
# the scheduler and the web app. State, logs and pids under var/NAME.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cmd="$1" name="${2:-dev}"
dir="$VAR/$name"
ES_PORT="${SEGSEARCH_ES_PORT:-9200}"
REDIS_PORT="${SEGSEARCH_REDIS_PORT:-6380}"
PORT="${SEGSEARCH_PORT:-8000}"
WORKERS="${SEGSEARCH_WORKERS:-2}"
FOLLOWERS="${SEGSEARCH_FOLLOWERS:-1}"  # real-time membership followers (workers.follower)

export_env() {
  export ES_URL="${ES_URL:-http://127.0.0.1:$ES_PORT}"
  export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:$REDIS_PORT/0}"
  if [ -z "${SEGSEARCH_BOOTSTRAP_TOKEN:-}" ]; then
    [ -f "$dir/dev-token" ] || "$PY" -c 'import secrets; print("dev_" + secrets.token_urlsafe(24))' > "$dir/dev-token"
    SEGSEARCH_BOOTSTRAP_TOKEN="$(cat "$dir/dev-token")"
  fi
  export SEGSEARCH_BOOTSTRAP_TOKEN
  # One session key for every web worker process (and across restarts) of this instance.
  if [ -z "${SEGSEARCH_SECRET_KEY:-}" ]; then
    [ -f "$dir/secret-key" ] || "$PY" -c 'import secrets; print(secrets.token_hex(32))' > "$dir/secret-key"
    chmod 600 "$dir/secret-key"
    SEGSEARCH_SECRET_KEY="$(cat "$dir/secret-key")"
  fi
  export SEGSEARCH_SECRET_KEY
}

spawn() {  # spawn NAME CMD...: background process with its own pid file and log
  local what="$1"; shift
  pid_alive "$dir/$what.pid" && return 0
  # A simple command in the background: $! is the program itself (setsid execs it as the
  # leader of its own process group, which stop_pidfile signals as a whole).
  (cd "$ROOT"; setsid "$@" >>"$dir/$what.log" 2>&1 & echo $! > "$dir/$what.pid")
}

start() {
  mkdir -p "$dir"
  bash "$ROOT/scripts/setup.sh"
  [ -n "${ES_URL:-}" ] || bash "$ROOT/scripts/es.sh" start "$dir/elasticsearch" "$ES_PORT" "${ES_HEAP:-2g}"
  [ -n "${REDIS_URL:-}" ] || bash "$ROOT/scripts/redis.sh" start "$dir/redis" "$REDIS_PORT"
  export_env
  (cd "$ROOT" && "$VENV/bin/flask" --app wsgi indices ensure >/dev/null)
  if [ "${DEMO_CUSTOMERS:-20000}" != 0 ]; then
    (cd "$ROOT" && "$VENV/bin/flask" --app wsgi demo load --if-empty --customers "${DEMO_CUSTOMERS:-20000}")
  fi
  for i in $(seq "$WORKERS"); do spawn "worker-$i" "$PY" -m workers.worker; done
  spawn scheduler "$PY" -m workers.scheduler
  for i in $(seq "$FOLLOWERS"); do spawn "follower-$i" "$PY" -m workers.follower; done
  spawn web "$VENV/bin/gunicorn" --bind "127.0.0.1:$PORT" --workers 2 --threads 4 --timeout 120 wsgi:app
  for _ in $(seq 120); do
    if curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; then
      log "segsearch is up: http://127.0.0.1:$PORT  (API: /api/v1, OpenAPI: /api/v1/openapi.json)"
      log "admin URL: http://127.0.0.1:$PORT/admin/"
      log "dev token (admin role): $SEGSEARCH_BOOTSTRAP_TOKEN"
      return 0
    fi
    sleep 0.5
  done
  die "healthz did not turn green within 60 s (logs in $dir)"
}

stop() {
  for f in "$dir"/web.pid "$dir"/scheduler.pid "$dir"/follower-*.pid "$dir"/worker-*.pid; do
    [ -f "$f" ] && stop_pidfile "$f" 20
  done
  [ -d "$dir/redis" ] && bash "$ROOT/scripts/redis.sh" stop "$dir/redis" "$REDIS_PORT"
  [ -d "$dir/elasticsearch" ] && bash "$ROOT/scripts/es.sh" stop "$dir/elasticsearch" "$ES_PORT"
  log "stopped $name"
}

case "$cmd" in start) start ;; stop) stop ;; *) die "usage: services.sh start|stop [NAME]" ;; esac
