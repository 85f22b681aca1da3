#!/usr/bin/env bash
# make run: the whole stack in the foreground; Ctrl-C stops everything it started.
set -euo pipefail
source "$(dirname "$0")/common.sh"
trap 'bash "$ROOT/scripts/services.sh" stop run; exit 0' INT TERM
bash "$ROOT/scripts/services.sh" start run
log "press Ctrl-C to stop"
tail -n 0 -F "$VAR/run/web.log" "$VAR/run"/worker-*.log "$VAR/run/scheduler.log" &
wait
