"""Formation and recalculation of one segment: target -> write-back -> state and history.

One formation per segment at a time: a Redis lock per code, released only by its owner.
Every request is first recorded in the work log (segsearch.segments.worklog); a formation
claims the record's generation before each pass and closes the record only if no request
came in since, else it runs one more pass. After releasing the lock it looks once more,
so a request that arrived between its last check and the release is not lost either.
A pass that raises marks the segment failed (segsearch.segments.failure) and leaves the
record due again after a back-off (SEGSEARCH_FORMATION_RETRY_SECONDS).
"""
from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from elasticsearch import helpers

from segsearch import clock
from segsearch.errors import NotFound
from segsearch.extensions import Services
from segsearch.rules.compiler import compile_rule
from segsearch.rules.fields import catalogue
from segsearch.segments import failure
from segsearch.segments.jobs import request_formation, work_log
from segsearch.segments.members import members_query
from segsearch.segments.membership import MembershipWriter
from segsearch.segments.pacing import LiveTraffic, Pacer
from segsearch.segments.store import SegmentStore
from segsearch.segments.worklog import SegmentLock, Ticket, backoff, parse_backoff

if TYPE_CHECKING:
    from segsearch.notify.dispatch import FormationWebhooks

log = logging.getLogger(__name__)
Progress = Callable[[float], None]
LOCK_SECONDS = 3600


class Skip(Exception):
    """Nothing to do for this segment now (inactive, or a static one already formed)."""


class Engine:
    def __init__(self, services: Services):
        self.svc = services
        self.store = SegmentStore(services.es, services.indices)
        self.work = work_log(services)
        self.tz = services.config["TIMEZONE"]
        self.backoff = parse_backoff(services.config["FORMATION_RETRY_SECONDS"])

    # -- entry point ---------------------------------------------------------------
    def form(self, code: str, reason: str, progress: Progress | None = None,
             owner: str | None = None) -> dict:
        """Form the segment now, or leave a request for the formation already running.

        `owner` (the RQ job id) owns the lock: the same job retried after its worker died
        takes its own lock over instead of waiting an hour for it to expire. A failed
        pass raises (after recording the failure), so the job fails visibly.
        """
        lock = SegmentLock(self.svc.redis, self._key("lock", code), owner or uuid.uuid4().hex,
                           LOCK_SECONDS)
        result: dict = {"joined": True}
        while True:
            if not lock.acquire():
                self.work.request(code, reason)  # the holder's close fails: it runs again
                if lock.held():
                    return result
                continue  # released meanwhile: take it ourselves
            try:
                result = self._until_settled(code, reason, progress)
            finally:
                lock.release()
            # A request between our last close and the release: ours to run, not lost.
            if not self.work.is_due(code):
                return result

    def _key(self, kind: str, code: str) -> str:
        return f"{self.svc.indices.prefix}{kind}:segment:{code}"

    def _until_settled(self, code: str, reason: str, progress: Progress | None) -> dict:
        """Passes until one ends with no request newer than its claim."""
        while True:
            ticket = self.work.claim(code, self.backoff)
            try:
                result = self._form_once(code, ticket.reason or reason, progress)
            except Exception as err:
                self._failed(code, ticket, err)
                raise
            if self.work.done(code, ticket.gen):
                return result

    def _failed(self, code: str, ticket: Ticket, err: Exception) -> None:
        """Keep the request with its error, due after the back-off; tell the segment."""
        message = failure.describe(err)
        log.warning("formation of segment %r failed (attempt %d): %s", code, ticket.attempts, message)
        retry_at = time.time() + backoff(self.backoff, ticket.attempts)
        self.work.fail(code, ticket, message, clock.now_iso(), retry_at)
        failure.report_or_defer(self.svc, code)

    # -- one pass ------------------------------------------------------------------
    def _form_once(self, code: str, reason: str, progress: Progress | None) -> dict:
        started = time.monotonic()
        try:
            segment = self.store.get(code)
        except NotFound:
            segment = None
        try:
            target, why = self.target(segment, reason)
        except Skip as skip:
            return {"skipped": str(skip)}
        if segment is not None:
            self.store.set_state(code, status="forming")
        pacer = Pacer(LiveTraffic(self.svc.redis, self.svc.indices.prefix).active,
                      float(self.svc.config["FORMATION_DUTY"]))
        writer = MembershipWriter(self.svc.feed, self.granted(),
                                  streams=int(self.svc.config["FORMATION_STREAMS"]), pacer=pacer)
        told = _Told(self.svc, code, why)
        change = writer.apply(code, target, progress, record=told.record)
        took_ms = int((time.monotonic() - started) * 1000)
        if pacer.paused_s:
            log.info("formation of segment %r paused %.1f s of %.1f s for live traffic",
                     code, pacer.paused_s, took_ms / 1000)
        count = self.svc.es.count(index=self.svc.indices.customers,
                                  query={"term": {"segments": code}})["count"]
        if segment is None and count:
            # Its code must be gone from every customer: fail, and so be retried, until it is.
            raise failure.Incomplete(f"{count} customers still carry the deleted segment.")
        result = {"count": count, "entered": change.entered, "left": change.left,
                  "took_ms": took_ms, "reason": why}
        self._formation_event(code, result)
        # A deleted segment still tells webhooks who left (no notification: nobody to tell).
        told.finish(segment or {"code": code}, result)
        if segment is not None:
            self.store.set_state(code, status="formed", customers_count=count,
                                 last_formed_at=clock.now_iso(), next_run_at=self._next_run(segment),
                                 last_error=None, failed_attempts=0)
        return result

    def target(self, segment: dict | None, reason: str) -> tuple[dict | None, str]:
        """The query the members must match (None: nobody) and the reason recorded."""
        if segment is None:
            return None, "delete"
        if not segment.get("active", True):
            raise Skip("inactive")
        now = datetime.now(UTC)
        if _after(now, segment.get("expires_at")):
            return None, "expiry"
        if not _after(now, segment.get("starts_at"), default=True):
            return None, "not-started"
        if segment.get("type") == "static" and segment.get("status") == "formed":
            raise Skip("static segments are formed once")
        if segment.get("members"):
            return members_query(segment["members"], segment.get("store")), "manual"
        fields = catalogue(self.svc.feed.catalog.custom_fields())
        query = compile_rule(segment["rule"], fields, today=clock.today(self.tz),
                             timezone=self.tz, store=segment.get("store"))
        return query, reason

    def granted(self) -> dict[str, str | None]:
        """segment code -> the user group it grants, as of now (the index is small)."""
        self.svc.es.indices.refresh(index=self.svc.indices.segments)
        return {s["code"]: s.get("user_group") for s in self.store.scan()}

    def _next_run(self, segment: dict) -> str | None:
        if segment.get("type") != "dynamic":
            return None
        interval = int(self.svc.config["RECALC_INTERVAL_SECONDS"])
        at = datetime.now(UTC) + timedelta(seconds=interval)
        return at.isoformat().replace("+00:00", "Z")

    def _formation_event(self, code: str, result: dict) -> None:
        """One point of the segment's dynamics."""
        self.svc.es.index(index=self.svc.indices.segment_events, refresh=True, document={
            "kind": "formation", "segment": code, "at": clock.now_iso(), "count": result["count"],
            "entered": result["entered"], "left": result["left"], "took_ms": result["took_ms"],
            "reason": result["reason"]})

    # -- scheduler -----------------------------------------------------------------
    def due(self) -> list[tuple[str, str]]:
        """(code, reason) of every segment that should be formed now, from the stored state.

        The work log is the fast path; this scan is the safety net that needs nothing but
        the segment documents (and finds deleted segments still on customers: "delete").
        """
        now = datetime.now(UTC)
        carried = self._codes_on_customers()  # before the scan: see _orphans
        self.svc.es.indices.refresh(index=self.svc.indices.segments)  # small; see the latest edits
        out, known = [], set()
        for seg in self.store.scan():
            known.add(seg["code"])
            reason = _due_reason(now, seg)
            if reason:
                out.append((seg["code"], reason))
        # A code on customers whose segment is gone: a delete whose clean-up was lost.
        return out + [(code, "delete") for code in sorted(carried - known)]

    def _codes_on_customers(self) -> set[str]:
        """Every segment code some customer carries (one terms aggregation).

        Read before the segments are listed: a code written to a customer was written
        by a formation that read its segment first, so a code missing from the later
        listing belongs to a segment deleted since, never to one not yet visible.
        """
        res = self.svc.es.search(index=self.svc.indices.customers, size=0, aggs={
            "codes": {"terms": {"field": "segments", "size": 65536}}})
        return {b["key"] for b in res["aggregations"]["codes"]["buckets"]}


def _due_reason(now: datetime, seg: dict) -> str | None:
    """Why this stored segment should be formed now, or None."""
    if not seg.get("active", True):
        return None
    if _after(now, seg.get("expires_at")):
        return "expiry" if seg.get("customers_count") else None
    status = seg.get("status")
    if status in ("pending", "forming"):  # forming: a no-op while its formation holds the record
        return "recalculation"
    if status == "failed" and _after(now, seg.get("next_run_at"), default=True):
        return "recalculation"
    if seg.get("type") == "dynamic" and _after(now, seg.get("next_run_at"), default=False):
        return "recalculation"
    if _started_since_formed(now, seg):
        return "start"
    return None


def _started_since_formed(now: datetime, seg: dict) -> bool:
    """Its window opened after its last formation: it forms when it starts."""
    starts = seg.get("starts_at")
    if not starts or not _after(now, starts):
        return False
    formed = seg.get("last_formed_at")
    return not formed or _parse(formed) < _parse(starts)


def _parse(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def _after(now: datetime, iso: str | None, default: bool = False) -> bool:
    """now >= iso; `default` when there is no such moment."""
    if not iso:
        return default
    return now >= _parse(iso)


class _Told:
    """Everyone told of a formation's changes, chunk by chunk as they are written: the
    history, the webhooks, and the segments whose rules name this one. Nothing here grows
    with the segment, so a formation's memory does not either."""

    def __init__(self, svc: Services, code: str, reason: str):
        self.svc, self.code, self.reason = svc, code, reason
        self.webhooks = _webhooks(svc, code, reason)
        self.dependants = _Dependants(svc, code)

    def record(self, entered: list[str], left: list[str]) -> None:
        """History first (a crash after the write loses little), then webhooks, then the
        real-time hook: segments whose rule names this one re-evaluate these customers."""
        index, at = self.svc.indices.segment_events, clock.now_iso()
        actions = [{"_index": index, "_source": {"kind": "member", "segment": self.code,
                                                  "customer_id": cid, "event": event,
                                                  "reason": self.reason, "at": at}}
                   for event, ids in (("entered", entered), ("left", left)) for cid in ids]
        helpers.bulk(self.svc.es, actions)
        if self.webhooks is not None:
            try:
                self.webhooks.add(entered, left, at)
            except Exception:  # noqa: BLE001 - like after_formation: never fail the formation
                log.exception("webhooks of segment %r were not queued", self.code)
        self.dependants.moved(entered + left)

    def finish(self, segment: dict, result: dict) -> None:
        """The summary webhook, the rest of the batches and the creator's notification."""
        self.dependants.finish()
        try:
            from segsearch.notify.dispatch import after_formation
        except ImportError:
            return
        after_formation(self.svc, segment, result, webhooks=self.webhooks)


class _Dependants:
    """Conditions on other segments (segsearch/realtime/propagation.py): the customers of
    each written chunk are marked for re-evaluation when an active dynamic segment's rule
    names this one. Which segments do is read again at most every RECHECK_SECONDS (a
    refresh and a scan per chunk cost more than the chunk's own history under load), and
    once more, exactly, at the end (after the formation's last refresh): a segment that
    began naming this one after a chunk was passed over is re-formed whole, so no move
    goes unseen."""

    RECHECK_SECONDS = 5.0

    def __init__(self, svc: Services, code: str):
        self.svc, self.code = svc, code
        self.enabled = bool(svc.config.get("REALTIME", True))
        self.named: bool | None = None
        self.checked = 0.0
        self.passed_over = False

    def moved(self, customer_ids: list[str]) -> None:
        if not customer_ids or not self.enabled:
            return
        if self.named is None or time.monotonic() - self.checked >= self.RECHECK_SECONDS:
            self.named, self.checked = bool(self._naming()), time.monotonic()
        if self.named:
            from segsearch.realtime.changes import PendingChanges
            PendingChanges(self.svc.redis, self.svc.indices.prefix).mark(customer_ids)
        else:
            self.passed_over = True

    def finish(self) -> None:
        if self.passed_over:
            for code in sorted(self._naming()):
                request_formation(self.svc, code, "recalculation")

    def _naming(self) -> set[str]:
        """Codes of the active dynamic segments whose rule names this one, as of now."""
        from segsearch.realtime.propagation import named_segments
        self.svc.es.indices.refresh(index=self.svc.indices.segments)
        return {seg["code"] for seg in SegmentStore(self.svc.es, self.svc.indices).scan(
            {"active": True, "type": "dynamic"}) if self.code in named_segments(seg.get("rule"))}


def _webhooks(svc: Services, code: str, reason: str) -> FormationWebhooks | None:
    """The formation's webhook stream, when that module is installed (it only enqueues)."""
    try:
        from segsearch.notify.dispatch import FormationWebhooks
    except ImportError:
        return None
    try:
        return FormationWebhooks(svc, code, reason)
    except Exception:  # noqa: BLE001 - webhooks never fail a formation
        log.exception("webhooks of segment %r were not read", code)
        return None
