"""docs/examples/read_user_groups.py, run as a promotion engine would, against the real node."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "examples" / "read_user_groups.py"


def run(prefix: str, *args: str) -> subprocess.CompletedProcess:
    from tests.conftest import ES_URL
    env = {**os.environ, "ES_URL": ES_URL, "SEGSEARCH_INDEX_PREFIX": prefix}
    return subprocess.run([sys.executable, str(SCRIPT), *args], check=False, env=env, capture_output=True,
                          text=True, timeout=60)


def test_the_example_reads_one_customer_and_a_whole_group(api, prefix):
    for i in range(5):
        assert api.put(f"/api/v1/customers/c{i}", json={"city": "Moscow"}).status_code == 201
    for i in (1, 3):
        assert api.post(f"/api/v1/customers/c{i}/user-groups/VIP").status_code in (200, 201)
    # a real-time GET sees the last write at once, without waiting for a refresh
    one = run(prefix, "--customer", "c3")
    assert one.returncode == 0, one.stderr
    assert json.loads(one.stdout)["user_groups"] == ["VIP"]
    assert run(prefix, "--customer", "nobody").returncode == 1
    api.app.extensions["segsearch"].es.indices.refresh(index=f"{prefix}customers")  # search: ~1 s
    group = run(prefix, "--group", "VIP")
    assert group.returncode == 0, group.stderr
    assert sorted(group.stdout.split()) == ["c1", "c3"]
