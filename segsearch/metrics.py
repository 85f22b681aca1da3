"""Prometheus metrics: request latencies here, job figures from Redis at scrape time.

Web processes observe their own requests (a histogram by method, route template and
status). Workers and the scheduler run in other processes, possibly on other hosts, so
what they measure (formations, members written, webhook failures) is added up in one
Redis hash per instance (`record`), and queue depths are read from RQ's registries when
Prometheus scrapes: every web process then reports the same cluster-wide figures.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, cast

from flask import Flask, Response, g, request
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Counters kept in Redis: field -> (metric name, help). Workers add to them with `record`.
COUNTERS = {
    "formations": ("segsearch_formations_total", "Formations finished (any outcome)."),
    "formation_failures": ("segsearch_formation_failures_total", "Formations that raised."),
    "formation_seconds": ("segsearch_formation_seconds_total", "Time spent in formations."),
    "members_written": ("segsearch_members_written_total", "Customers that entered or left a segment."),
    "webhook_failures": ("segsearch_webhook_failures_total", "Webhook deliveries that failed (retried)."),
    "realtime_changes": ("segsearch_realtime_changes_total", "Membership changes made by the follower."),
}
# Extra gauges other modules provide (e.g. the real-time follower's lag): name, help, read().
Gauge = tuple[str, str, Callable[[Redis, str], float]]


def _realtime_backlog(redis: Redis, prefix: str) -> float:
    from segsearch.realtime.changes import PendingChanges
    return PendingChanges(redis, prefix).size()


GAUGES: list[Gauge] = [
    ("segsearch_realtime_pending", "Customers waiting for the real-time follower (its lag).",
     _realtime_backlog),
]


def _key(prefix: str) -> str:
    return f"{prefix}metrics"


def record(redis: Redis, prefix: str, **increments: float) -> None:
    """Add to the instance's counters; never lets a metrics hiccup fail the job."""
    try:
        with redis.pipeline(transaction=False) as pipe:
            for field, amount in increments.items():
                pipe.hincrbyfloat(_key(prefix), field, amount)
            pipe.execute()
    except RedisError:
        pass


class RedisFigures(Collector):
    """Queue depths and the workers' counters, read at scrape time."""

    def __init__(self, redis: Redis, queue: Queue, prefix: str):
        self.redis, self.queue, self.prefix = redis, queue, prefix

    def collect(self) -> Iterable[Any]:
        try:
            raw = cast(dict, self.redis.hgetall(_key(self.prefix)))
            depths = {"queued": self.queue.count,
                      "started": StartedJobRegistry(queue=self.queue).count,
                      "scheduled": ScheduledJobRegistry(queue=self.queue).count,
                      "failed": FailedJobRegistry(queue=self.queue).count}
        except RedisError:
            up = GaugeMetricFamily("segsearch_redis_up", "Redis reachable at scrape time.")
            up.add_metric([], 0)
            yield up
            return
        up = GaugeMetricFamily("segsearch_redis_up", "Redis reachable at scrape time.")
        up.add_metric([], 1)
        yield up
        jobs = GaugeMetricFamily("segsearch_queue_jobs", "RQ jobs by state.", labels=["state"])
        for state, count in depths.items():
            jobs.add_metric([state], count)
        yield jobs
        values = {k.decode(): float(v) for k, v in raw.items()}
        for field, (name, text) in COUNTERS.items():
            counter = CounterMetricFamily(name.removesuffix("_total"), text)
            counter.add_metric([], values.get(field, 0.0))
            yield counter
        for name, text, read in GAUGES:
            gauge = GaugeMetricFamily(name, text)
            try:
                gauge.add_metric([], read(self.redis, self.prefix))
            except RedisError:
                continue
            yield gauge


def init_app(app: Flask, redis: Redis, queue: Queue, prefix: str) -> None:
    """Time every request and serve GET /metrics (Prometheus text format)."""
    registry = CollectorRegistry()
    latency = Histogram("segsearch_http_request_duration_seconds", "HTTP request latency.",
                        ["method", "route", "status"], registry=registry,
                        buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30))
    registry.register(RedisFigures(redis, queue, prefix))
    app.extensions["segsearch_metrics"] = registry

    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        started = g.get("started")
        if started is not None:
            # The route template, never the raw path: ids must not become label values.
            route = request.url_rule.rule if request.url_rule else "unmatched"
            latency.labels(request.method, route, str(response.status_code)).observe(
                time.perf_counter() - started)
        return response


def exposition(app: Flask) -> bytes:
    return generate_latest(app.extensions["segsearch_metrics"])
