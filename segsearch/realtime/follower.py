"""The follower: re-evaluates changed customers against every live segment, in batches.

One batch (``Follower.process``):

1. lease up to REALTIME_BATCH_SIZE marked customers (changes.PendingChanges);
2. read the segments (refresh of the small segments index, one search), then refresh the
   customers index, so every write that marked them is visible;
3. one search: an ``ids`` filter plus, per live segment (active, dynamic, inside its
   ``starts_at``/``expires_at`` window; its compiled rule carries its store), the compiled
   query as a named optional ``should`` clause. ``matched_queries`` of each hit says which
   segments the customer belongs in now; its ``_seq_no``/``_primary_term`` say which
   version of the document that verdict was reached on;
4. write only the difference, per customer in one optimistic-concurrency patch
   (Feed.patch_customers) that adds/removes exactly the codes decided and recomputes the
   user groups by the seeds' rules (membership.user_groups_of). The first attempt is
   conditional on the very version the search evaluated (no read of its own); a customer
   written since is read again and patched on the fresh document (its writer marked it,
   so it is evaluated again anyway). What really changed on the written document is what
   gets recorded: history (``reason: "change"``) and webhooks (``segment.entered`` /
   ``segment.left``, no ``segment.formed``: this is no formation);
5. re-mark whoever must be looked at again (below), then drop the batch's ids from the
   pending set unless they were marked again meanwhile.

``customers_count`` of the segments a batch moved customers in or out of (every segment
when a customer was deleted) is corrected at most once a second: at the start of a later
batch, right after its refresh (which shows the earlier batches' writes), or, when
nothing else waits, at the end of the batch itself before its ids leave the pending set
(so an empty pending set means right counts), or by the idle loop. A new follower counts
every segment once (one that was killed may have left counts behind), and every segment
is counted again every FULL_COUNT_SECONDS.

Static, inactive and out-of-window segments are never evaluated and their codes never
written. A batch that raises is released (its ids stay pending) and retried. Compiled
rules are kept per (segment, document version, day); custom fields are read only to
compile a new one.

Why a formation and the follower never fight (after both settle, membership equals the
rule evaluated on the final data):

* Both write through the same OCC loop and each only adds/removes its own decisions on
  the fresh document, so neither overwrites the other's other fields or codes.
* Feed writes during a batch re-mark the customer (changes.py), so any decision taken
  on data older than the final data is taken again on newer data.
* A formation refreshes and re-diffs after its own writes until the diff is empty; a
  follower write that lands before the formation's last diff is therefore corrected by
  the formation if it was based on an older rule.
* The remaining race is a follower write (decided with the rule and data read at batch
  start) landing after the formation's last diff. Every formation writes the segment's
  document when it starts (status ``forming``) and when it ends (``formed``, a new
  ``last_formed_at``), and every edit writes it too (``version_of`` compares everything
  but ``customers_count``, which followers write themselves). So after its writes the
  follower re-reads the segments it evaluated. One that is ``forming`` now: the batch's
  customers are deferred to that formation's end (``PendingChanges.defer``); the
  follower marks them again once the segment is no longer ``forming`` (checked every
  batch and every second), so they are
  evaluated once more with the final rule and data -- once, not in a loop while a long
  formation runs. One whose version changed but is not forming (edited, or formed from
  start to end during the batch): the batch is marked again at once. A later formation
  sees the follower's writes, so none can be missed. A segment deleted meanwhile gets
  its delete formation queued again, which removes any code of it the follower wrote
  after the first one finished.
* Conditions on other segments (propagation.py): a customer whose membership changed in
  a segment some rule names is re-marked, so dependants settle one level per batch.

Failure notes: history and webhooks of a batch that crashes after its membership write
are not replayed (at most once, like a formation's); the membership itself is exact.
Two followers counting at once may leave a count stale until that segment's next count
(at the latest the next full count).
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from elasticsearch import helpers

from segsearch import clock, metrics
from segsearch.errors import Conflict, NotFound
from segsearch.notify.dispatch import queue_deliveries
from segsearch.notify.events import ENTERED, LEFT
from segsearch.notify.webhooks import WebhookStore
from segsearch.realtime.changes import PendingChanges, Taken
from segsearch.realtime.propagation import depended_on
from segsearch.rules.compiler import compile_rule
from segsearch.rules.fields import catalogue
from segsearch.segments.jobs import request_formation
from segsearch.segments.membership import MEMBERSHIP, user_groups_of
from segsearch.segments.store import SegmentStore

if TYPE_CHECKING:
    from segsearch.extensions import Services

log = logging.getLogger(__name__)
REASON = "change"
NAME = "segment:"  # prefix of our named queries, apart from any name a compiled rule uses
POLL_SECONDS = 0.05
UNDEFER_SECONDS = 1.0
COUNT_SECONDS = 1.0  # at most one customers_count correction a second while the feed runs
FULL_COUNT_SECONDS = 60.0  # and every segment's count now and then
SEGMENTS_PAGE = 1000  # segments read in one search; more are scrolled


@dataclass(frozen=True)
class Live:
    """A segment evaluated in real time, compiled for today, with its document's version."""
    code: str
    query: dict
    version: str  # see version_of


@dataclass
class Batch:
    """What one batch did."""
    customers: int = 0
    deleted: int = 0
    entered: dict[str, list[str]] = field(default_factory=dict)
    left: dict[str, list[str]] = field(default_factory=dict)
    remarked: int = 0
    took_ms: int = 0


class Follower:
    """Drains the pending set of one instance (several followers may run at once)."""

    def __init__(self, services: Services):
        cfg = services.config
        self.svc = services
        self.es = services.es
        self.indices = services.indices
        self.store = SegmentStore(services.es, services.indices)
        self.pending = PendingChanges(services.redis, services.indices.prefix)
        self.batch_size = int(cfg["REALTIME_BATCH_SIZE"])
        self.linger = int(cfg["REALTIME_LINGER_MS"]) / 1000
        self.lease = float(cfg["REALTIME_LEASE_SECONDS"])
        self.tz = cfg["TIMEZONE"]
        # Codes whose customers_count may be off (None: every segment). A new follower
        # counts everything once: a killed one may have left counts behind.
        self._uncounted: set[str] | None = None
        self._counted_at = float("-inf")  # monotonic time of the last count
        self._full_count_at = time.monotonic()
        self._compiled: dict[tuple[str, str, date], dict] = {}  # (code, version, today) -> query
        self._busy = False  # the last next_batch() found work at once
        self._checked = float("-inf")  # monotonic time of the last idle-time check

    # -- the loop ------------------------------------------------------------------------
    def next_batch(self, stopping: Callable[[], bool] = lambda: False) -> Taken:
        """Wait for work, let a batch fill for up to `linger`, then lease it.

        Changes that came in while the previous batch ran have waited long enough: they
        are taken at once. Only a follower that found nothing to do lingers."""
        first_seen = None
        while not stopping():
            waiting = self.pending.size()
            if waiting and first_seen is None:
                first_seen = float("-inf") if self._busy else time.monotonic()
            if waiting >= self.batch_size or (
                    first_seen is not None and time.monotonic() - first_seen >= self.linger):
                taken = self.pending.take(self.batch_size, self.lease)
                if taken:
                    self._busy = True
                    return taken
                first_seen = None  # all leased by other followers
            self._busy = False
            if time.monotonic() - self._checked >= UNDEFER_SECONDS:  # also while no change comes in
                self._checked = time.monotonic()
                self.undefer_finished()
                if not waiting and self._uncounted != set() and self._count_due():
                    self.flush_counts()  # the last batches' counts, once the feed pauses
            time.sleep(POLL_SECONDS)
        return []

    def run_once(self, taken: Taken) -> Batch:
        """Process a leased batch; on failure its ids stay pending and the error is raised."""
        try:
            return self.process(taken)
        except BaseException:
            self.pending.release(taken)
            self._uncounted = None  # it may have written memberships it did not count
            raise

    def drain(self, max_batches: int = 1000) -> list[Batch]:
        """Process batches without lingering until nothing waits (tests, benchmarks)."""
        done = []
        for _ in range(max_batches):
            taken = self.pending.take(self.batch_size, self.lease)
            if not taken:
                break
            done.append(self.run_once(taken))
        if done:
            self.flush_counts()
        return done

    # -- one batch -----------------------------------------------------------------------
    def process(self, taken: Taken) -> Batch:
        started = time.monotonic()
        ids = [cid for cid, _ in taken]
        segments = self._segments()
        self.undefer_finished({code: doc.get("status") for code, (doc, _) in segments.items()})
        live = self._live(segments)
        granted = {code: doc.get("user_group") for code, (doc, _) in segments.items()}
        self.es.indices.refresh(index=self.indices.customers)
        if self._count_due():  # this refresh shows every earlier batch's writes
            self._count(segments)
        docs, matched = self._evaluate(ids, live)
        plans = {cid: plan for cid, doc in docs.items()
                 if (plan := _plan(doc["_source"], matched[cid], live, granted)) is not None}
        batch = Batch(customers=len(ids), deleted=len(ids) - len(docs))
        moved, failed = self._write(plans, granted, docs)
        for cid, (ins, outs) in moved.items():
            for code in ins:
                batch.entered.setdefault(code, []).append(cid)
            for code in outs:
                batch.left.setdefault(code, []).append(cid)
        self._record(batch)
        metrics.record(self.svc.redis, self.indices.prefix, realtime_changes=sum(
            len(ids) for ids in (*batch.entered.values(), *batch.left.values())))
        remark = set(failed) | self._dependants(moved, segments)
        changed, forming = self._unsettled(live, batch)
        for code in forming:  # evaluated again once that formation has ended
            self.pending.defer(code, ids)
        if changed:  # edited or formed during the batch: evaluate again now
            remark |= set(ids)
        self._to_count(batch)
        if self._uncounted != set() and not remark and self.pending.size() <= len(taken):
            # Nothing else waits: count now, so an empty pending set means right counts.
            self.flush_counts(segments)
        if remark:
            self.pending.mark(remark)  # before done(): the new mark keeps them pending
        self.pending.done(taken)
        batch.remarked = len(remark)
        batch.took_ms = int((time.monotonic() - started) * 1000)
        return batch

    def _segments(self) -> dict[str, tuple[dict, str]]:
        """Every segment document (imported lists left out) with its version."""
        self.es.indices.refresh(index=self.indices.segments)  # small: see the latest edits
        res = self.es.search(index=self.indices.segments, query={"match_all": {}}, size=SEGMENTS_PAGE,
                             source_excludes=["members"], track_total_hits=False)
        hits = res["hits"]["hits"]
        if len(hits) >= SEGMENTS_PAGE:  # more than one page: all of them, scrolled
            hits = list(helpers.scan(self.es, index=self.indices.segments,
                                     query={"query": {"match_all": {}}}, source_excludes=["members"]))
        return {h["_id"]: (h["_source"], version_of(h["_source"])) for h in hits}

    def _live(self, segments: Mapping[str, tuple[dict, str]]) -> list[Live]:
        """The active dynamic segments inside their window, compiled for today.

        Compiled queries are kept per (code, version, day): a segment's query changes only
        with its document or the date; custom fields are read only to compile a new one
        (a registered field never changes its type)."""
        now = datetime.now(UTC)
        today = clock.today(self.tz)
        fields: Mapping | None = None
        compiled: dict[tuple[str, str, date], dict] = {}
        live = []
        for code, (doc, version) in sorted(segments.items()):
            if not is_live(doc, now):
                continue
            key = (code, version, today)
            query = self._compiled.get(key)
            if query is None:
                if fields is None:
                    fields = catalogue(self.svc.feed.catalog.custom_fields())
                try:
                    query = self.compile(doc, fields)
                except Exception:  # its formation reports the same error on the segment
                    log.exception("segment %r is not evaluated in real time: its rule does not compile", code)
                    continue
            compiled[key] = query
            live.append(Live(code, query, version))
        self._compiled = compiled  # only what is live now: old versions and days go
        return live

    def compile(self, segment: Mapping[str, Any], fields: Mapping) -> dict:
        """The segment's query, as its formation compiles it today."""
        return compile_rule(segment["rule"], fields, today=clock.today(self.tz), timezone=self.tz,
                            store=segment.get("store"))

    def _evaluate(self, ids: list[str], live: list[Live]) -> tuple[dict[str, dict], dict[str, set[str]]]:
        """One search: each customer's membership fields and the live segments it matches."""
        # The should clauses are deliberately optional (no minimum_should_match): every
        # customer of the batch comes back, and matched_queries names its segments.
        should = [{"bool": {"filter": [seg.query], "_name": NAME + seg.code}} for seg in live]
        query = {"bool": {"filter": [{"ids": {"values": ids}}], "should": should}}
        res = self.es.search(index=self.indices.customers, query=query, size=len(ids),
                             source={"includes": MEMBERSHIP}, track_total_hits=False,
                             seq_no_primary_term=True)
        docs, matched = {}, {}
        for hit in res["hits"]["hits"]:
            # In the shape of an mget doc: the patch's first attempt is conditional on the
            # very version evaluated here, with no read of its own.
            docs[hit["_id"]] = {"_id": hit["_id"], "found": True, "_source": hit.get("_source") or {},
                                "_seq_no": hit["_seq_no"], "_primary_term": hit["_primary_term"]}
            matched[hit["_id"]] = {name[len(NAME):] for name in hit.get("matched_queries") or []
                                   if name.startswith(NAME)}
        return docs, matched

    def _write(self, plans: Mapping[str, tuple[set[str], set[str]]], granted: Mapping[str, str | None],
               read: Mapping[str, dict] | None = None
               ) -> tuple[dict[str, tuple[set[str], set[str]]], Mapping[str, str]]:
        """Apply the plans under OCC; (what really moved per customer, the failed ids).

        `read`: the documents the plans were made from (mget shape, with versions)."""
        moved: dict[str, tuple[set[str], set[str]]] = {}

        def mutation(cid: str, adds: set[str], removes: set[str]):
            def mutate(doc: dict) -> dict:
                have = set(doc.get("segments") or [])
                new = (have | adds) - removes
                moved[cid] = (new - have, have - new)  # the last (successful) attempt wins
                segs = sorted(new)
                return {"segments": segs, **user_groups_of({**doc, "segments": segs}, granted)}
            return mutate

        failed = self.svc.feed.patch_customers(
            {cid: mutation(cid, *plan) for cid, plan in plans.items()}, MEMBERSHIP, read=read)
        moved = {cid: m for cid, m in moved.items() if cid not in failed and (m[0] or m[1])}
        return moved, failed

    def _record(self, batch: Batch) -> None:
        """History events and webhook deliveries of what moved."""
        at = clock.now_iso()
        index = self.indices.segment_events
        actions = [{"_index": index, "_source": {"kind": "member", "segment": code, "customer_id": cid,
                                                  "event": event, "reason": REASON, "at": at}}
                   for event, by_code in (("entered", batch.entered), ("left", batch.left))
                   for code, cids in by_code.items() for cid in cids]
        if actions:
            helpers.bulk(self.es, actions)
        if not actions or not WebhookStore(self.es, self.indices).subscribed((ENTERED, LEFT)):
            return  # one read per batch rather than one per segment that moved
        for code in sorted(set(batch.entered) | set(batch.left)):
            entered, left = batch.entered.get(code, []), batch.left.get(code, [])
            queue_deliveries(self.svc, code, {"reason": REASON, "entered": len(entered),
                                              "left": len(left)}, entered, left, at,
                             types=(ENTERED, LEFT))

    def _dependants(self, moved: Mapping[str, tuple[set[str], set[str]]],
                    segments: Mapping[str, tuple[dict, str]]) -> set[str]:
        """Customers who moved in a segment that another segment's rule names."""
        named = depended_on(doc for doc, _ in segments.values())
        return {cid for cid, (ins, outs) in moved.items() if (ins | outs) & named}

    def _unsettled(self, live: list[Live], batch: Batch) -> tuple[bool, list[str]]:
        """Did a formation or an edit of an evaluated segment overlap this batch?

        (whether one changed since the batch began, the codes whose formation runs now)."""
        if not live:
            return False, []
        docs = self.es.mget(index=self.indices.segments, ids=[s.code for s in live],
                            source_excludes=["members"])["docs"]
        changed, forming = False, []
        for seg, doc in zip(live, docs):
            if not doc.get("found"):
                if seg.code in batch.entered:  # its delete formation may have run already
                    request_formation(self.svc, seg.code, "delete")
                continue
            if doc["_source"].get("status") == "forming":
                forming.append(seg.code)
            elif version_of(doc["_source"]) != seg.version:
                changed = True
        return changed, forming

    def undefer_finished(self, statuses: Mapping[str, str | None] | None = None) -> int:
        """Mark again the customers deferred for segments no longer forming; how many.

        `statuses` (code -> status) saves a read when the caller has them."""
        codes = self.pending.deferred_codes()
        if not codes:
            return 0
        if statuses is None:
            docs = self.es.mget(index=self.indices.segments, ids=codes, source_includes=["status"])["docs"]
            statuses = {d["_id"]: d["_source"].get("status") for d in docs if d.get("found")}
        return sum(self.pending.undefer(code) for code in codes if statuses.get(code) != "forming")

    # -- customers_count -----------------------------------------------------------------
    def _to_count(self, batch: Batch) -> None:
        """Note the segments whose count this batch may have changed."""
        if batch.deleted:  # their segments are unknown now: count them all
            self._uncounted = None
        elif self._uncounted is not None:
            self._uncounted |= set(batch.entered) | set(batch.left)

    def _count_due(self) -> bool:
        """At most one count a second: under a steady feed, one per batch is too many."""
        return time.monotonic() - self._counted_at >= COUNT_SECONDS

    def flush_counts(self, segments: Mapping[str, tuple[dict, str]] | None = None) -> None:
        """Refresh and correct the counts still owed (all of them every FULL_COUNT_SECONDS)."""
        if self._uncounted == set():
            return
        self.es.indices.refresh(index=self.indices.customers)
        self._count(segments if segments is not None else self._segments())

    def _count(self, segments: Mapping[str, tuple[dict, str]]) -> None:
        """Correct the stored customers_count of the segments owed a count (one search).

        The caller has refreshed the customers index after the writes to be counted."""
        now = time.monotonic()
        full = self._uncounted is None or now - self._full_count_at >= FULL_COUNT_SECONDS
        codes = sorted(segments if full else (self._uncounted or set()) & set(segments))
        owed: set[str] = set()
        if codes:
            res = self.es.search(index=self.indices.customers, size=0, track_total_hits=False, aggs={
                "n": {"filters": {"filters": {code: {"term": {"segments": code}} for code in codes}}}})
            for code, bucket in res["aggregations"]["n"]["buckets"].items():
                doc = segments[code][0]
                if doc.get("customers_count") != bucket["doc_count"]:
                    try:
                        self.store.set_state(code, customers_count=bucket["doc_count"])
                    except NotFound:
                        continue  # deleted meanwhile
                    except Conflict:
                        owed.add(code)  # busy: counted again by the next batch
                        continue
                    # A batch counts at its start and again at its end against the same
                    # documents: the second count must compare with what the first wrote.
                    doc["customers_count"] = bucket["doc_count"]
        if full:  # also heals a count that two followers wrote in the wrong order
            self._full_count_at = now
        self._uncounted, self._counted_at = owed, now  # only once every count is written


def version_of(segment: Mapping[str, Any]) -> str:
    """What a formation or an edit changes in a segment's document, as one comparable value.

    Everything but `customers_count`, which followers themselves correct: with several
    followers, one's count write must not look like a formation to the others."""
    return json.dumps({k: v for k, v in segment.items() if k != "customers_count"},
                      sort_keys=True, default=str)


def is_live(segment: Mapping[str, Any], now: datetime) -> bool:
    """Evaluated in real time: active, dynamic, with a rule, inside its window."""
    if segment.get("type") != "dynamic" or not segment.get("active", True) or not segment.get("rule"):
        return False
    starts, expires = segment.get("starts_at"), segment.get("expires_at")
    return (not starts or now >= _parse(starts)) and (not expires or now < _parse(expires))


def _parse(iso: str) -> datetime:
    return datetime.fromisoformat(iso)  # Python 3.11 reads the "Z"


def _plan(doc: Mapping[str, Any], matched: set[str], live: list[Live],
          granted: Mapping[str, str | None]) -> tuple[set[str], set[str]] | None:
    """(codes to add, codes to remove) for one customer, or None when nothing is to write.

    A customer whose user-group fields disagree with its segments is rewritten too."""
    have = set(doc.get("segments") or [])
    codes = {seg.code for seg in live}
    adds, removes = (matched & codes) - have, (codes - matched) & have
    if adds or removes:
        return adds, removes
    groups = user_groups_of(doc, granted)
    if any(sorted(doc.get(k) or []) != v for k, v in groups.items()):
        return set(), set()
    return None
