"""A formation gives way to people using the system.

A formation is background work; a marketer's preview, a member list or the live feed is
not. On a small node they share the same cores: at 1M customers on two cores, a
formation writing flat out took a preview's p95 from 71 ms (the feed alone, 200 orders/s)
to 614 ms (bench/profiles/README.md, "Issue 10, second pass"). So a request
that makes the node work for somebody waiting (a write, a preview, a member list:
`is_live`) marks "live traffic" in Redis for a few seconds, and while the mark is there a
formation works at most DUTY of the time: after a chunk that took t seconds to write it
pauses t * (1 - DUTY) / DUTY. On a quiet system it writes flat out. A formation gives way
for BUDGET_S in all at most: under a feed that never stops it still finishes well inside
its job's hour.

The mark is best effort on both sides: a request never fails or waits because Redis does
not answer (it is written at most once a second per process), and a formation that cannot
read it carries on at full speed - a slower preview is better than a stalled formation.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from flask import Flask, request
from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# Seconds a request keeps the mark alive, and the least time between two writes of it
# from one process: the mark outlives the gap between a feed's batches or a marketer's
# clicks, and costs one Redis write a second at most.
TTL_S = 3.0
EVERY_S = 1.0
# However long a chunk took (a node stalled by a merge), a formation never stops for long:
# it keeps its lease and progress fresh and finishes.
MAX_PAUSE_S = 10.0
# The most one formation pauses in all (a 1M-member formation writes for ~13 min here).
BUDGET_S = 600.0


def _key(prefix: str) -> str:
    return f"{prefix}live-traffic"


class LiveTraffic:
    """The "someone is using the system right now" mark, shared through Redis."""

    def __init__(self, redis: Redis, prefix: str, ttl_s: float = TTL_S, every_s: float = EVERY_S,
                 clock: Callable[[], float] = time.monotonic):
        self.redis, self.key = redis, _key(prefix)
        self.ttl_ms, self.every_s, self.clock = int(ttl_s * 1000), every_s, clock
        self._last: float | None = None
        self._lock = threading.Lock()

    def mark(self) -> None:
        """Note live traffic; at most one Redis write per `every_s` from this process."""
        now = self.clock()
        with self._lock:
            if self._last is not None and now - self._last < self.every_s:
                return
            self._last = now
        try:
            self.redis.set(self.key, 1, px=self.ttl_ms)
        except RedisError as err:  # best effort: a request never fails for the mark
            log.debug("live-traffic mark not written: %s", err)

    def active(self) -> bool:
        """Whether some process served a request within the last `ttl_s` seconds."""
        try:
            return bool(self.redis.exists(self.key))
        except RedisError:
            return False


class Pacer:
    """Pauses a formation between chunks so it works at most `duty` of the time while
    `busy()` says live traffic is on; never pauses when duty is 1 or nothing is busy."""

    def __init__(self, busy: Callable[[], bool], duty: float, budget_s: float = BUDGET_S,
                 sleep: Callable[[float], None] = time.sleep):
        if not 0 < duty <= 1:
            raise ValueError("duty must be within (0, 1]")
        self.busy, self.duty, self.budget_s, self.sleep = busy, duty, budget_s, sleep
        self.paused_s = 0.0  # in all, for the formation's log line
        self._lock = threading.Lock()  # several write streams may pause at once

    def pause_for(self, worked_s: float) -> float:
        """The pause owed after `worked_s` seconds of work (0 when not busy or when the
        budget is spent)."""
        left = self.budget_s - self.paused_s
        if self.duty >= 1 or worked_s <= 0 or left <= 0 or not self.busy():
            return 0.0
        return min(MAX_PAUSE_S, left, worked_s * (1 - self.duty) / self.duty)

    def after(self, worked_s: float) -> float:
        """Pause as owed after `worked_s` seconds of work; returns the pause."""
        pause = self.pause_for(worked_s)
        if pause > 0:
            with self._lock:
                self.paused_s += pause
            self.sleep(pause)
        return pause


NEVER = Pacer(lambda: False, 1.0)  # formation outside a worker (tests, the CLI): no pauses


def init_app(app: Flask, live: LiveTraffic) -> None:
    """Requests that make the node work for somebody waiting mark live traffic."""

    @app.before_request
    def _mark() -> None:
        if is_live(request.method, request.endpoint):
            live.mark()


# Reads that search customers for a person or a client waiting on the answer. Status polls
# (a segment, a job, the notification bell an open admin page asks every few seconds),
# probes and static files are left out: they cost the node next to nothing, and an admin
# tab left open must not slow every formation down.
LIVE_READS = ("customer", "member", "export", "analytic", "overlap", "values")


def is_live(method: str, endpoint: str | None) -> bool:
    """Whether a request counts as live traffic: every write (the feed, a preview, an
    explain - all POSTs), and the reads in LIVE_READS."""
    if not endpoint:
        return False
    if method not in ("GET", "HEAD", "OPTIONS"):
        return True
    view = endpoint.rsplit(".", 1)[-1].lower()
    return any(word in view for word in LIVE_READS)
