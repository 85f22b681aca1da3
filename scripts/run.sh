#!/usr/bin/env bash
# make run: the whole stack in the foreground; Ctrl-C stops everything it started.
set -euo pipefail
source "$(dirname "$0")/common.sh"
tail_pid=""
stop() {
  [ -n "$tail_pid" ] && kill "$tail_pid" 2>/dev/null
  bash "$ROOT/scripts/services.sh" stop run
  exit 0
}
trap stop INT TERM
bash "$ROOT/scripts/services.sh" start run
log "press Ctrl-C to stop"
tail -n 0 -F "$VAR/run/web.log" "$VAR/run"/worker-*.log "$VAR/run/scheduler.log" \
  "$VAR/run"/follower-*.log &
tail_pid=$!
wait
