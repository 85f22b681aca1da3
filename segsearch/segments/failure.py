"""A failed formation made visible: the segment's state, its creator told, a short message.

The failure is first kept in the work log (Redis), because the usual cause, Elasticsearch
being down, also stops us writing the segment document. `report` copies it into the
segment (`status: failed`, `last_error`, `failed_attempts`, `next_run_at`) and notifies
the creator on the first failure of a streak; whatever cannot be reported now is marked
unreported and reported by the scheduler's next round that reaches Elasticsearch.
"""
from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from elasticsearch import ApiError, ConnectionTimeout
from elasticsearch import ConnectionError as ESConnectionError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from segsearch.errors import NotFound
from segsearch.segments.jobs import work_log
from segsearch.segments.store import SegmentStore

if TYPE_CHECKING:
    from segsearch.extensions import Services

log = logging.getLogger(__name__)
MAX_MESSAGE = 300


class Incomplete(Exception):
    """A formation ran but could not bring membership to its target (retried)."""


def describe(err: BaseException) -> str:
    """A short, human message for `last_error`: what failed, never a stack trace."""
    if isinstance(err, (ESConnectionError, ConnectionTimeout)):
        text = "Elasticsearch is unreachable."
    elif isinstance(err, ApiError):
        text = f"Elasticsearch refused a request ({err.status_code} {err.error})."
    elif isinstance(err, (RedisConnectionError, RedisTimeoutError)):
        text = "Redis is unreachable."
    elif isinstance(err, Incomplete):
        text = str(err)
    else:
        first_line = (str(err).splitlines() or [""])[0]
        text = f"Unexpected error ({type(err).__name__}: {first_line})."
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE - 1] + "…"


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def report(services: Services, code: str) -> bool:
    """Write the recorded failure of `code` into the segment; whether it was written.

    Not written when nothing failed, the segment is gone, or it was formed after the
    failure (a late report must not mark a healthy segment failed: the check is part of
    the conditional write).
    """
    worklog = work_log(services)
    entry = worklog.entry(code)
    if entry is None or not entry.error:
        worklog.reported(code)
        return False
    before: dict = {}

    def still_failed(doc: dict) -> bool:
        before.clear()
        before.update(doc)
        formed = doc.get("last_formed_at")
        return not (formed and entry.error_at and formed >= entry.error_at)

    store = SegmentStore(services.es, services.indices)
    try:
        doc = store.set_state(code, when=still_failed, status="failed", last_error=entry.error,
                              failed_attempts=entry.attempts, next_run_at=iso(entry.due_at))
    except NotFound:
        doc = None
    if doc is not None and not before.get("failed_attempts"):
        _notify(services, doc, entry.error)  # the first failure of a streak, not every retry
    worklog.reported(code)
    return doc is not None


def report_or_defer(services: Services, code: str) -> None:
    """`report`, or leave it to the scheduler when Elasticsearch (or anything) is down now."""
    work_log(services).mark_unreported(code)  # first: `report` clears it once written
    try:
        report(services, code)
    except Exception as err:  # noqa: BLE001 - whatever it is, the scheduler tries again
        log.warning("failure of segment %r not reported yet: %s", code, describe(err))


def report_pending(services: Services) -> int:
    """Report every failure that could not be reported when it happened; how many were."""
    count = 0
    for code in work_log(services).unreported():
        try:
            count += report(services, code)
        except Exception as err:  # noqa: BLE001 - Elasticsearch still down: next round
            log.warning("failure of segment %r still not reported: %s", code, describe(err))
    return count


def _notify(services: Services, segment: dict, error: str) -> None:
    try:
        from segsearch.notify.dispatch import notify_failure
    except ImportError:
        return
    notify_failure(services, segment, error)
