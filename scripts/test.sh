#!/usr/bin/env bash
# make test: throw-away Elasticsearch and Redis on their own ports and data dirs,
# the whole suite, then stop them. Extra arguments go to pytest.
set -euo pipefail
source "$(dirname "$0")/common.sh"
bash "$ROOT/scripts/setup.sh"
dir="$VAR/test-$$"
es_port="${TEST_ES_PORT:-9250}" redis_port="${TEST_REDIS_PORT:-6390}"
cleanup() {
  [ -n "${ES_URL_TEST_EXTERNAL:-}" ] || bash "$ROOT/scripts/es.sh" stop "$dir/elasticsearch" "$es_port" || true
  bash "$ROOT/scripts/redis.sh" stop "$dir/redis" "$redis_port" || true
  rm -rf "$dir"
}
trap cleanup EXIT
mkdir -p "$dir"
if [ -n "${ES_URL:-}" ]; then
  export SEGSEARCH_TEST_ES_URL="$ES_URL"; ES_URL_TEST_EXTERNAL=1
else
  bash "$ROOT/scripts/es.sh" start "$dir/elasticsearch" "$es_port" "${TEST_ES_HEAP:-1g}"
  export SEGSEARCH_TEST_ES_URL="http://127.0.0.1:$es_port"
fi
bash "$ROOT/scripts/redis.sh" start "$dir/redis" "$redis_port"
export SEGSEARCH_TEST_REDIS_URL="redis://127.0.0.1:$redis_port/0"
cd "$ROOT"
set +e
"$PY" -m pytest --durations=25 "$@"
rc=$?
set -e
exit $rc
