#!/usr/bin/env bash
# setup.sh — installs whatever is missing on a fresh machine; quick when all is there.
#   Python deps into .venv (re-installed when requirements.txt changes),
#   redis-server and a JDK 17 + Maven from Debian's packages (unless REDIS_URL / ES_URL
#   point elsewhere), the Elasticsearch distribution from Maven Central into .cache/.
set -euo pipefail
source "$(dirname "$0")/common.sh"

apt_install() {
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  log "installing from Debian: $*"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Python
if [ ! -x "$PY" ]; then log "creating .venv"; python3 -m venv "$VENV"; fi
stamp="$VENV/.requirements.sha"
want="$(sha256sum "$ROOT/requirements.txt" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing Python requirements"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/requirements.txt"
  echo "$want" > "$stamp"
fi

# Redis
if [ -z "${REDIS_URL:-}" ] && ! command -v redis-server >/dev/null; then
  apt_install redis-server
fi

# Elasticsearch
if [ -z "${ES_URL:-}" ] && [ ! -x "$ES_HOME/bin/elasticsearch" ]; then
  missing=()
  ls /usr/lib/jvm/java-17-openjdk-* >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null || missing+=(maven)
  [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
  log "resolving Elasticsearch $ES_VERSION from Maven Central"
  mvn -q -B -Dmaven.repo.local="$CACHE/m2" -f "$ROOT/services/elasticsearch/pom.xml" \
    -Dunpack.dir="$CACHE/elasticsearch" -Delasticsearch.version="$ES_VERSION" package
  [ -x "$ES_HOME/bin/elasticsearch" ] || die "Elasticsearch unpack failed"
fi
