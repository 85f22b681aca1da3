"""The webhook events of one formation, and their batches. Pure functions."""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

ENTERED, LEFT, FORMED = "segment.entered", "segment.left", "segment.formed"
EVENT_TYPES = (ENTERED, LEFT, FORMED)


def formation_events(code: str, result: dict[str, Any], entered: Iterable[str],
                     left: Iterable[str], at: str, types: Iterable[str]) -> Iterator[dict]:
    """The events a subscriber to `types` receives: entries, then leaves, then the summary.

    Lazy, so a formation with a million entries never holds a million dicts at once.
    """
    wanted = set(types)
    reason = result.get("reason")
    for event_type, ids in ((ENTERED, entered), (LEFT, left)):
        if event_type in wanted:
            for customer_id in ids:
                yield {"type": event_type, "segment": code, "customer_id": customer_id,
                       "at": at, "reason": reason}
    if FORMED in wanted:
        yield {"type": FORMED, "segment": code, "count": result.get("count"),
               "entered": result.get("entered"), "left": result.get("left"),
               "at": at, "reason": reason}


def batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive lists of at most `size` items (the last may be shorter; none empty)."""
    if size < 1:
        raise ValueError("batch size must be positive")
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def subscribed(webhook_events: Sequence[str], entered: Sequence[str], left: Sequence[str]) -> bool:
    """Whether a formation has anything for this subscription (segment.formed always does)."""
    wanted = set(webhook_events)
    return FORMED in wanted or (ENTERED in wanted and bool(entered)) or (
        LEFT in wanted and bool(left))
