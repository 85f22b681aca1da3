"""Formation and recalculation of one segment: target -> write-back -> state and history.

One formation per segment at a time: a Redis lock per code. A request that finds the
lock taken sets a "dirty" flag and returns; the running formation sees the flag and runs
one more pass, so a second request joins (or follows) the running one and is never lost.
"""
from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from elasticsearch import helpers

from segsearch import clock
from segsearch.errors import NotFound
from segsearch.extensions import Services
from segsearch.rules.compiler import compile_rule
from segsearch.rules.fields import catalogue
from segsearch.segments.members import members_query
from segsearch.segments.membership import MembershipWriter
from segsearch.segments.store import SegmentStore

Progress = Callable[[float], None]
LOCK_SECONDS = 3600


class Skip(Exception):
    """Nothing to do for this segment now (inactive, or a static one already formed)."""


class Engine:
    def __init__(self, services: Services):
        self.svc = services
        self.store = SegmentStore(services.es, services.indices)
        self.tz = services.config["TIMEZONE"]

    # -- entry point ---------------------------------------------------------------
    def form(self, code: str, reason: str, progress: Progress | None = None,
             owner: str | None = None) -> dict:
        """Form the segment now, or leave a note for the formation already running.

        `owner` (the RQ job id) owns the lock: the same job retried after its worker died
        takes its own lock over instead of waiting an hour for it to expire.
        """
        key, token = self._key("lock", code), owner or uuid.uuid4().hex
        redis = self.svc.redis
        if not redis.set(key, token, nx=True, ex=LOCK_SECONDS) and redis.get(key) != token.encode():
            redis.set(self._key("dirty", code), reason, ex=LOCK_SECONDS)
            return {"joined": True}
        try:
            result = self._form_once(code, reason, progress)
            while redis.getdel(self._key("dirty", code)):
                result = self._form_once(code, reason, progress)
            return result
        finally:
            if redis.get(key) == token.encode():
                redis.delete(key)

    def _key(self, kind: str, code: str) -> str:
        return f"{self.svc.indices.prefix}{kind}:segment:{code}"

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
        writer = MembershipWriter(self.svc.feed, self.granted())
        change = writer.apply(code, target, progress,
                              record=lambda entered, left: self._member_events(code, entered, left, why))
        took_ms = int((time.monotonic() - started) * 1000)
        count = self.svc.es.count(index=self.svc.indices.customers,
                                  query={"term": {"segments": code}})["count"]
        self._formation_event(code, change, why, count, took_ms)
        # A deleted segment still tells webhooks who left (no notification: nobody to tell).
        _after_formation(self.svc, segment or {"code": code},
                         {"count": count, "entered": len(change.entered), "left": len(change.left),
                          "took_ms": took_ms, "reason": why}, change)
        # Real-time hook: segments whose rule names this one re-evaluate who entered or left.
        from segsearch.realtime.propagation import propagate
        propagate(self.svc, code, change.entered + change.left)
        if segment is not None:
            self.store.set_state(code, status="formed", customers_count=count,
                                 last_formed_at=clock.now_iso(), next_run_at=self._next_run(segment))
        return {"count": count, "entered": len(change.entered), "left": len(change.left),
                "took_ms": took_ms, "reason": why}

    def target(self, segment: dict | None, reason: str) -> tuple[dict | None, str]:
        """The query the members must match (None: nobody) and the reason recorded."""
        if segment is None:
            return None, "delete"
        if not segment.get("active", True):
            raise Skip("inactive")
        now = datetime.now(timezone.utc)
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
        at = datetime.now(timezone.utc) + timedelta(seconds=interval)
        return at.isoformat().replace("+00:00", "Z")

    def _member_events(self, code: str, entered: list[str], left: list[str], reason: str) -> None:
        """History of the customers just written (called per chunk, so a crash loses little)."""
        index, at = self.svc.indices.segment_events, clock.now_iso()
        actions = [{"_index": index, "_source": {"kind": "member", "segment": code, "customer_id": cid,
                                                  "event": event, "reason": reason, "at": at}}
                   for event, ids in (("entered", entered), ("left", left)) for cid in ids]
        helpers.bulk(self.svc.es, actions)

    def _formation_event(self, code: str, change, reason: str, count: int, took_ms: int) -> None:
        """One point of the segment's dynamics."""
        self.svc.es.index(index=self.svc.indices.segment_events, refresh=True, document={
            "kind": "formation", "segment": code, "at": clock.now_iso(), "count": count,
            "entered": len(change.entered), "left": len(change.left), "took_ms": took_ms,
            "reason": reason})

    # -- scheduler -----------------------------------------------------------------
    def due(self) -> list[tuple[str, str]]:
        """(code, reason) of every segment that should be formed now."""
        now = datetime.now(timezone.utc)
        out = []
        self.svc.es.indices.refresh(index=self.svc.indices.segments)  # small; see the latest edits
        for seg in self.store.scan():
            if not seg.get("active", True):
                continue
            if _after(now, seg.get("expires_at")):
                if seg.get("customers_count"):
                    out.append((seg["code"], "expiry"))
            elif seg.get("status") == "pending" or (
                    seg.get("type") == "dynamic" and _after(now, seg.get("next_run_at"), default=False)):
                out.append((seg["code"], "recalculation"))
            elif _started_since_formed(now, seg):
                out.append((seg["code"], "start"))
        return out


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


def _after_formation(svc: Services, segment: dict, result: dict, change) -> None:
    """Webhooks and notifications, when that module is installed (it only enqueues)."""
    try:
        from segsearch.notify.dispatch import after_formation
    except ImportError:
        return
    after_formation(svc, segment, result, change.entered, change.left)
