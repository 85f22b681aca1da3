"""GET /metrics and request ids, on the real services."""
from __future__ import annotations

import pytest

from segsearch import metrics

pytestmark = pytest.mark.integration


def test_metrics_report_requests_queues_and_worker_counters(api, redis_conn, prefix):
    assert api.get("/api/v1/segments").status_code == 200
    metrics.record(redis_conn, prefix, formations=2, members_written=150, webhook_failures=1)
    r = api.get("/metrics")
    assert r.status_code == 200 and r.content_type.startswith("text/plain")
    text = r.get_data(as_text=True)
    assert 'segsearch_http_request_duration_seconds_count{method="GET",route="/api/v1/segments",status="200"}' in text
    assert "segsearch_formations_total 2.0" in text
    assert "segsearch_members_written_total 150.0" in text
    assert "segsearch_webhook_failures_total 1.0" in text
    assert 'segsearch_queue_jobs{state="queued"}' in text
    assert "segsearch_redis_up 1.0" in text
    assert "segsearch_realtime_pending 0.0" in text


def test_metrics_need_a_token_and_ids_are_echoed(api):
    anonymous = api.app.test_client()
    assert anonymous.get("/metrics").status_code == 401
    assert api.as_role("ingest").get("/metrics").status_code == 403
    r = api.get("/api/v1/segments", headers={"X-Request-Id": "abc-123"})
    assert r.headers["X-Request-Id"] == "abc-123"
    r = api.get("/api/v1/segments", headers={"X-Request-Id": "bad id <script>"})
    assert len(r.headers["X-Request-Id"]) == 32  # made up: a malformed one is not echoed
