#!/usr/bin/env bash
# setup.sh — installs whatever is missing on a fresh machine; quick when all is there.
#   Python >= 3.11 is required (checked first, with a clear error).
#   From Debian's packages, each only when missing: python3-venv, curl, openssl,
#   redis-server and a JDK 17 + Maven (unless REDIS_URL / ES_URL point elsewhere),
#   PostgreSQL (the benchmark peer and its tests), Chromium (browser tests).
#   Python deps into .venv from requirements.txt + requirements-dev.txt (re-installed
#   when either changes), the Elasticsearch distribution from Maven Central into .cache/.
# `setup.sh python` does only the Python part (what `make lint` needs).
set -euo pipefail
source "$(dirname "$0")/common.sh"

MIN_PYTHON=3.11

# python_ok BIN: BIN runs and is at least MIN_PYTHON.
python_ok() {
  "$1" -c "import sys; sys.exit(sys.version_info < tuple(map(int, '$MIN_PYTHON'.split('.'))))" \
    2>/dev/null
}

apt_install() {
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  log "installing from Debian: $*"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Debian packages `make run` / `make test` need, each only when missing (one apt run).
debian_packages() {
  local missing=()
  # Debian's python3 has venv but not ensurepip (so no pip in a venv) without python3-venv.
  python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
  command -v curl >/dev/null || missing+=(curl)
  command -v openssl >/dev/null || missing+=(openssl)  # test certificates (webhooks over TLS)
  if [ -z "${REDIS_URL:-}" ] && ! command -v redis-server >/dev/null; then
    missing+=(redis-server)
  fi
  if [ -z "${ES_URL:-}" ] && [ ! -x "$ES_HOME/bin/elasticsearch" ]; then
    ls /usr/lib/jvm/java-17-openjdk-* >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
    command -v mvn >/dev/null || missing+=(maven)
  fi
  # The benchmark's PostgreSQL peer (tests/integration/test_pg_peer.py starts its own server).
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    missing+=(postgresql)
    no_main_cluster
  fi
  command -v chromium >/dev/null || missing+=(chromium)
  [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
}

# The package would create and start a system cluster on port 5432 that nothing here
# uses: the peer runs its own server on its own port and data dir.
no_main_cluster() {
  local conf=/etc/postgresql-common/createcluster.conf sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  [ -e "$conf" ] && return 0
  $sudo mkdir -p "$(dirname "$conf")"
  echo "create_main_cluster = false" | $sudo tee "$conf" >/dev/null
}

python_deps() {
  if [ ! -x "$PY" ]; then
    python3 -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv
    log "creating .venv"
    python3 -m venv "$VENV"
  fi
  python_ok "$PY" || die ".venv runs $("$PY" --version 2>&1); segsearch needs Python >= $MIN_PYTHON: remove .venv and run again with a newer python3"
  local stamp="$VENV/.requirements.sha" want
  want="$(cat "$ROOT/requirements.txt" "$ROOT/requirements-dev.txt" | sha256sum | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "installing Python requirements"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/requirements.txt" \
      -r "$ROOT/requirements-dev.txt"
    echo "$want" > "$stamp"
  fi
}

elasticsearch() {
  [ -z "${ES_URL:-}" ] && [ ! -x "$ES_HOME/bin/elasticsearch" ] || return 0
  log "resolving Elasticsearch $ES_VERSION from Maven Central"
  mvn -q -B -Dmaven.repo.local="$CACHE/m2" -f "$ROOT/services/elasticsearch/pom.xml" \
    -Dunpack.dir="$CACHE/elasticsearch" -Delasticsearch.version="$ES_VERSION" package
  [ -x "$ES_HOME/bin/elasticsearch" ] || die "Elasticsearch unpack failed"
}

command -v python3 >/dev/null || die "python3 not found: segsearch needs Python >= $MIN_PYTHON"
python_ok python3 || die "python3 is $(python3 --version 2>&1); segsearch needs Python >= $MIN_PYTHON (Debian 12 has 3.11: apt-get install python3), or put a newer python3 first on PATH"

if [ "${1:-}" = python ]; then
  python_deps
  exit 0
fi
debian_packages
python_deps
elasticsearch
