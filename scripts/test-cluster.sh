#!/usr/bin/env bash
# make test-cluster: the whole suite against the local 3-node secured cluster (started if
# needed, left running), with the customers index at 3 shards and 1 replica, plus the
# node-failure tests in tests/cluster. Extra arguments go to pytest.
set -euo pipefail
source "$(dirname "$0")/common.sh"
bash "$ROOT/scripts/setup.sh"
bash "$ROOT/scripts/cluster.sh" start
eval "$(bash "$ROOT/scripts/cluster.sh" env)"
export SEGSEARCH_SHARDS="${SEGSEARCH_SHARDS:-3}" SEGSEARCH_REPLICAS="${SEGSEARCH_REPLICAS:-1}"
export SEGSEARCH_TEST_CLUSTER=1
exec bash "$ROOT/scripts/test.sh" "${@:-tests}"
