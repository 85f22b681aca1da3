"""last_error messages and the back-off schedule (pure)."""
from __future__ import annotations

import pytest
from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
from elasticsearch import ApiError
from elasticsearch import ConnectionError as ESConnectionError
from redis.exceptions import ConnectionError as RedisConnectionError

from segsearch.segments.failure import MAX_MESSAGE, Incomplete, describe
from segsearch.segments.worklog import backoff, parse_backoff


def _meta(status: int) -> ApiResponseMeta:
    return ApiResponseMeta(status=status, http_version="1.1", headers=HttpHeaders(), duration=0.0,
                           node=NodeConfig("http", "127.0.0.1", 9200))


def test_messages_are_short_and_name_the_part():
    assert describe(ESConnectionError("refused")) == "Elasticsearch is unreachable."
    err = ApiError("index_closed_exception", _meta(400), {"error": {"type": "index_closed_exception"}})
    assert describe(err) == "Elasticsearch refused a request (400 index_closed_exception)."
    assert describe(RedisConnectionError("Error 111")) == "Redis is unreachable."
    assert describe(Incomplete("3 customers still carry the deleted segment.")).startswith("3 customers")
    long = describe(ValueError("x" * 1000 + "\nTraceback (most recent call last):"))
    assert len(long) <= MAX_MESSAGE and "Traceback" not in long and long.startswith("Unexpected error")


def test_backoff_grows_then_repeats_its_last_step():
    steps = parse_backoff("30,120,600,3600")
    assert [backoff(steps, n) for n in range(1, 7)] == [30, 120, 600, 3600, 3600, 3600]
    assert parse_backoff(5) == [5]
    for bad in ("", "a", "-1"):
        with pytest.raises(ValueError):
            parse_backoff(bad)
