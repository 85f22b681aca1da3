"""The durable set of changed customers: marked by the feed, drained by the follower.

Three Redis keys per instance (index prefix):

* ``<prefix>realtime:pending`` -- sorted set, member = customer id, score = a mark
  number drawn from ``<prefix>realtime:seq``. Every mark gets a new, higher number, so
  "the mark a follower took" and "the mark now" differ exactly when the customer was
  marked again in between (time stamps could collide within a clock tick).
* ``<prefix>realtime:leases`` -- sorted set, member = customer id a follower is working
  on, score = the lease's deadline in Redis server milliseconds.
* ``<prefix>realtime:deferred:<code>`` -- set of customer ids to evaluate again once the
  formation of segment <code> running now has ended (see follower.py), and
  ``<prefix>realtime:deferred`` the set of such codes.

Why this loses nothing:

* The feed marks before its Elasticsearch write and again after it succeeded
  (``ChangeSink.before`` / ``after``). A crash between the write and the second mark
  still left the first. If Redis is down the first mark raises and the write never
  reaches Elasticsearch (the API answers 503).
* A follower takes ids under a lease and removes an id only when done, and only if its
  mark is still the one it took (a Lua compare-and-remove). A change that arrives during
  the batch -- even one whose ES write the batch's refresh did not see -- re-marks the
  id, which therefore stays pending and is evaluated again.
* A follower killed mid-batch never removes anything; its leases run out
  (``REALTIME_LEASE_SECONDS``) and another follower (or its restart) takes the ids.
"""
from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import cast

from redis import Redis

from segsearch.feed.service import ChangeSink

Taken = list[tuple[str, str]]  # (customer id, mark) pairs, the mark as Redis returns it
CHUNK = 1000  # ids per Lua call: keeps each script short so Redis stays responsive

# Give each id a new mark number (one INCRBY for the whole call).
_MARK = """
local last = redis.call('INCRBY', KEYS[2], #ARGV)
local first = last - #ARGV
for i, id in ipairs(ARGV) do
  redis.call('ZADD', KEYS[1], first + i, id)
end
return last
"""

# Up to ARGV[1] ids, oldest mark first, that no unexpired lease holds; lease them for
# ARGV[2] ms. Scans at most ARGV[3] pending entries (others' leases may sit in front).
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local want, deadline, limit = tonumber(ARGV[1]), now + tonumber(ARGV[2]), tonumber(ARGV[3])
local out, start = {}, 0
while #out < 2 * want and start < limit do
  local page = redis.call('ZRANGE', KEYS[1], start, start + 499, 'WITHSCORES')
  if #page == 0 then break end
  for i = 1, #page, 2 do
    local lease = redis.call('ZSCORE', KEYS[2], page[i])
    if (not lease) or tonumber(lease) <= now then
      redis.call('ZADD', KEYS[2], deadline, page[i])
      out[#out + 1] = page[i]
      out[#out + 1] = page[i + 1]
      if #out >= 2 * want then break end
    end
  end
  start = start + 500
end
return out
"""

# ARGV = id, mark, id, mark, ...: drop each id whose mark is unchanged; free every lease.
_DONE = """
local removed = 0
for i = 1, #ARGV, 2 do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('ZREM', KEYS[1], ARGV[i])
    removed = removed + 1
  end
  redis.call('ZREM', KEYS[2], ARGV[i])
end
return removed
"""


# KEYS: pending, seq, deferred:<code>, deferred; ARGV[1] = code. Mark the deferred ids
# (new mark numbers) and forget them, atomically.
_UNDEFER = """
local ids = redis.call('SMEMBERS', KEYS[3])
if #ids > 0 then
  local last = redis.call('INCRBY', KEYS[2], #ids)
  local first = last - #ids
  for i, id in ipairs(ids) do
    redis.call('ZADD', KEYS[1], first + i, id)
  end
end
redis.call('DEL', KEYS[3])
redis.call('SREM', KEYS[4], ARGV[1])
return #ids
"""


class PendingChanges:
    """The pending set of one instance: mark, take (leased), done, release."""

    def __init__(self, redis: Redis, prefix: str):
        self.redis = redis
        self.pending = f"{prefix}realtime:pending"
        self.seq = f"{prefix}realtime:seq"
        self.leases = f"{prefix}realtime:leases"
        self._mark = redis.register_script(_MARK)
        self._take = redis.register_script(_TAKE)
        self._done = redis.register_script(_DONE)
        self._undefer = redis.register_script(_UNDEFER)
        self.deferred = f"{prefix}realtime:deferred"

    def mark(self, customer_ids: Iterable[str]) -> None:
        """These customers changed: (re-)evaluate them. Raises if Redis is unreachable."""
        ids = list(dict.fromkeys(customer_ids))
        for start in range(0, len(ids), CHUNK):
            self._mark(keys=[self.pending, self.seq], args=ids[start:start + CHUNK])

    def size(self) -> int:
        """How many customers wait (leased ones included)."""
        return int(cast(int, self.redis.zcard(self.pending)))

    def take(self, limit: int, lease_seconds: float) -> Taken:
        """Lease up to `limit` waiting ids nobody else holds, oldest first."""
        flat = self._take(keys=[self.pending, self.leases],
                          args=[limit, int(lease_seconds * 1000), max(4 * limit, 5000)])
        return [(_text(flat[i]), _text(flat[i + 1])) for i in range(0, len(flat), 2)]

    def done(self, taken: Sequence[tuple[str, str]]) -> int:
        """Evaluated: drop the ids not marked again since taken; free the leases."""
        removed = 0
        for start in range(0, len(taken), CHUNK):
            args = [x for pair in taken[start:start + CHUNK] for x in pair]
            removed += int(self._done(keys=[self.pending, self.leases], args=args))
        return removed

    def defer(self, code: str, customer_ids: Iterable[str]) -> None:
        """Evaluate these customers again once segment `code`'s formation has ended."""
        ids = list(customer_ids)
        with self.redis.pipeline() as pipe:  # MULTI: both or neither
            for start in range(0, len(ids), CHUNK):
                pipe.sadd(f"{self.deferred}:{code}", *ids[start:start + CHUNK])
            pipe.sadd(self.deferred, code)
            pipe.execute()

    def deferred_codes(self) -> list[str]:
        """Segments with customers waiting for the end of their formation."""
        return sorted(_text(c) for c in cast(set, self.redis.smembers(self.deferred)))

    def undefer(self, code: str) -> int:
        """The formation of `code` has ended: mark its deferred customers; how many."""
        return int(self._undefer(keys=[self.pending, self.seq, f"{self.deferred}:{code}", self.deferred],
                                 args=[code]))

    def release(self, taken: Sequence[tuple[str, str]]) -> None:
        """Not evaluated (the batch failed): keep them pending, free the leases now."""
        ids = [cid for cid, _ in taken]
        for start in range(0, len(ids), CHUNK):
            self.redis.zrem(self.leases, *ids[start:start + CHUNK])


class PendingSink(ChangeSink):
    """The feed's ChangeSink for real-time membership: both hooks mark the customers.

    The mark after the write is what makes a batch that read the first mark (and maybe
    the old document) leave the id pending: see the module docstring.
    """

    def __init__(self, pending: PendingChanges):
        self.pending = pending

    def before(self, customer_ids: Collection[str]) -> None:
        self.pending.mark(customer_ids)

    def after(self, customer_ids: Collection[str]) -> None:
        self.pending.mark(customer_ids)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
