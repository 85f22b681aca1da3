"""The durable record of segments that need a formation, and the per-segment lock.

Nothing may depend on one enqueue succeeding, so every request for a formation (create,
edit, delete, recalculate, the schedule, a failure's retry) is first written here and is
removed only by a formation of that segment that finished after the request. The
scheduler drains the due entries every few seconds (workers/scheduler.py).

Redis keys, under the instance prefix `p`:

    {p}work:due              ZSET  code -> epoch seconds at which it should be (re)queued
    {p}work:segment:{code}   HASH  gen (bumped by each request), reason, attempts, error, error_at
    {p}work:unreported       SET   codes whose failure is not yet in the segment document
    {p}lock:segment:{code}   STR   the owner of the formation running now

Invariants (each step is one Lua script or one MULTI, so they hold under any interleaving):

* A request bumps `gen` and makes the entry due now (ZADD LT: never later than it was).
* A formation `claim`s the entry before its pass: it reads `gen`, counts the attempt and
  leases the entry until now + back-off, so a worker that dies mid-pass is retried then.
* `done(gen)` removes the entry only if `gen` is unchanged: a request that arrived while
  the pass ran survives it, and the formation (or the next drain) runs once more.
* The lock is taken with SET NX (or re-taken by its own owner: the same job id after a
  worker died) and released only by its owner (compare-and-delete).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, cast

from redis import Redis

_REQUEST = """
redis.call('ZADD', KEYS[1], 'LT', ARGV[2], ARGV[1])
redis.call('HINCRBY', KEYS[2], 'gen', 1)
redis.call('HSET', KEYS[2], 'reason', ARGV[3])
"""
# Only make sure an entry exists (the schedule): a running formation is not asked again.
_ENSURE = """
if redis.call('ZADD', KEYS[1], 'NX', ARGV[2], ARGV[1]) == 1 then
  redis.call('HSETNX', KEYS[2], 'reason', ARGV[3])
end
"""
_CLAIM = """
local attempts = redis.call('HINCRBY', KEYS[2], 'attempts', 1)
local n = #ARGV - 2
redis.call('ZADD', KEYS[1], tonumber(ARGV[2]) + tonumber(ARGV[2 + math.min(attempts, n)]), ARGV[1])
return {redis.call('HGET', KEYS[2], 'gen') or '', redis.call('HGET', KEYS[2], 'reason') or '', attempts}
"""
_DONE = """
redis.call('SREM', KEYS[3], ARGV[1])
if (redis.call('HGET', KEYS[2], 'gen') or '') == ARGV[2] then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('DEL', KEYS[2])
  return 1
end
redis.call('HDEL', KEYS[2], 'attempts', 'error', 'error_at')
return 0
"""
# Back-off counts from the failure; a request that came in meanwhile keeps it due now.
_FAIL = """
redis.call('HSET', KEYS[2], 'error', ARGV[3], 'error_at', ARGV[4])
if (redis.call('HGET', KEYS[2], 'gen') or '') == ARGV[2] then
  redis.call('ZADD', KEYS[1], ARGV[5], ARGV[1])
end
"""
_ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class Ticket:
    """What a formation claimed: the request generation it covers, why, which attempt."""

    gen: str
    reason: str | None
    attempts: int


@dataclass(frozen=True)
class Entry:
    """A pending entry as the scheduler and the failure report see it."""

    code: str
    due_at: float
    reason: str | None
    attempts: int
    error: str | None
    error_at: str | None


def parse_backoff(spec: str | int) -> list[int]:
    """"30,120,600,3600" -> [30, 120, 600, 3600]: the pause before each retry; the last repeats."""
    values = [int(part) for part in str(spec).split(",") if part.strip()]
    if not values or any(v < 0 for v in values):
        raise ValueError("SEGSEARCH_FORMATION_RETRY_SECONDS must be non-negative seconds, comma-separated")
    return values


def backoff(intervals: list[int], attempts: int) -> int:
    """The pause after the `attempts`-th failed attempt in a row (1-based)."""
    return intervals[min(max(attempts, 1), len(intervals)) - 1]


def _text(value: bytes | None) -> str | None:
    return value.decode() if value is not None else None


class WorkLog:
    """The record of segments needing a formation, for one instance (prefix)."""

    def __init__(self, redis: Redis, prefix: str):
        self.redis = redis
        self.prefix = prefix
        self.due_key = f"{prefix}work:due"
        self.unreported_key = f"{prefix}work:unreported"

    def _want(self, code: str) -> str:
        return f"{self.prefix}work:segment:{code}"

    def _run(self, script: str, code: str, *args: object) -> Any:
        keys = [self.due_key, self._want(code), self.unreported_key]
        return self.redis.eval(script, 3, *keys, code, *(str(a) for a in args))

    # -- requests ------------------------------------------------------------------
    def request(self, code: str, reason: str, at: float | None = None) -> None:
        """Record that `code` needs a formation (due `at`, default now)."""
        self._run(_REQUEST, code, at if at is not None else time.time(), reason)

    def ensure(self, code: str, reason: str) -> None:
        """Record `code` as due now unless an entry exists already (the schedule's way)."""
        self._run(_ENSURE, code, time.time(), reason)

    # -- a formation's side --------------------------------------------------------
    def claim(self, code: str, intervals: list[int]) -> Ticket:
        """Before a pass: the generation it covers; lease the entry for the back-off."""
        gen, reason, attempts = self._run(_CLAIM, code, time.time(), *intervals)
        return Ticket(gen.decode() if isinstance(gen, bytes) else str(gen),
                      _text(reason) or None, int(attempts))

    def done(self, code: str, gen: str) -> bool:
        """After a successful pass: remove the entry unless a request came in since the claim."""
        return bool(self._run(_DONE, code, gen))

    def fail(self, code: str, ticket: Ticket, error: str, error_at: str, retry_at: float) -> None:
        """After a failed pass: keep the entry, with the error, due again at `retry_at`."""
        self._run(_FAIL, code, ticket.gen, error, error_at, retry_at)

    # -- the scheduler's side ------------------------------------------------------
    def due(self, now: float | None = None) -> list[tuple[str, str | None]]:
        """(code, reason) of every entry due by `now`."""
        found = cast(list[bytes], self.redis.zrangebyscore(
            self.due_key, "-inf", now if now is not None else time.time()))
        codes = [c.decode() for c in found]
        with self.redis.pipeline(transaction=False) as pipe:
            for code in codes:
                pipe.hget(self._want(code), "reason")
            reasons = pipe.execute()
        return [(code, _text(r)) for code, r in zip(codes, reasons)]

    def entry(self, code: str) -> Entry | None:
        """The entry of `code`, or None when nothing is pending for it."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.zscore(self.due_key, code)
            pipe.hgetall(self._want(code))
            score, fields = pipe.execute()
        if score is None:
            return None
        f = {k.decode(): v.decode() for k, v in fields.items()}
        return Entry(code, float(score), f.get("reason"), int(f.get("attempts", 0)),
                     f.get("error"), f.get("error_at"))

    def is_due(self, code: str, now: float | None = None) -> bool:
        score = cast(float | None, self.redis.zscore(self.due_key, code))
        return score is not None and score <= (now if now is not None else time.time())

    def mark_unreported(self, code: str) -> None:
        self.redis.sadd(self.unreported_key, code)

    def unreported(self) -> list[str]:
        return sorted(c.decode() for c in cast(set[bytes], self.redis.smembers(self.unreported_key)))

    def reported(self, code: str) -> None:
        self.redis.srem(self.unreported_key, code)


class SegmentLock:
    """One formation per segment at a time; only its owner (token) may release it."""

    def __init__(self, redis: Redis, key: str, token: str, ttl: int):
        self.redis, self.key, self.token, self.ttl = redis, key, token, ttl

    def acquire(self) -> bool:
        """Take the lock, or re-take it if this token holds it (a retried job)."""
        return bool(self.redis.eval(_ACQUIRE, 1, self.key, self.token, str(self.ttl)))

    def release(self) -> bool:
        """Delete the lock if this token still holds it (atomic compare-and-delete)."""
        return bool(self.redis.eval(_RELEASE, 1, self.key, self.token))

    def held(self) -> bool:
        """Whether anyone holds it now."""
        return bool(self.redis.exists(self.key))
