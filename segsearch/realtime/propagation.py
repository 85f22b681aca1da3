"""Conditions on other segments (CONTRACT 6.2): who must be re-evaluated when one changes.

A rule names another segment through a condition on the field ``segments`` (block
``segments``, op ``in``, include/exclude codes); it compiles to a term query on the
customer's stored ``segments``. So when a customer enters or leaves segment S, every
segment whose rule names S may now decide differently for that customer -- and only for
that customer. Propagation therefore marks exactly the customers who entered or left S as
changed (the same pending set the feed writes to); the follower re-evaluates them against
every live segment, writes the difference, and propagates its own changes the same way.
Each round settles one more level of the (acyclic: validation refuses cycles) dependency
graph, in dependency order, and the rounds stop when a round changes nothing a rule
names. No full recalculation is needed.

Nothing is marked unless some active dynamic segment names S, so instances without
segment conditions pay nothing.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from segsearch.realtime.changes import PendingChanges
from segsearch.segments.store import SegmentStore

if TYPE_CHECKING:
    from segsearch.extensions import Services

FIELD = "segments"


def named_segments(rule: Mapping[str, Any] | None) -> set[str]:
    """The segment codes a rule's conditions name (include and exclude alike)."""
    codes: set[str] = set()
    for group in (rule or {}).get("groups") or []:
        for cond in group.get("conditions") or []:
            if cond.get("field") == FIELD:
                codes.update(cond.get("include") or [])
                codes.update(cond.get("exclude") or [])
    return codes


def depended_on(segments: Iterable[Mapping[str, Any]]) -> set[str]:
    """Every code that the rule of one of these (active dynamic) segments names."""
    out: set[str] = set()
    for seg in segments:
        if seg.get("type") == "dynamic" and seg.get("active", True):
            out |= named_segments(seg.get("rule"))
    return out


def propagate(services: Services, code: str, customer_ids: list[str]) -> int:
    """After a formation of `code`: mark its entered/left customers for re-evaluation if
    some segment depends on it. Returns how many were marked (0 when nothing depends)."""
    if not customer_ids or not services.config.get("REALTIME", True):
        return 0
    services.es.indices.refresh(index=services.indices.segments)
    store = SegmentStore(services.es, services.indices)
    if code not in depended_on(store.scan({"active": True, "type": "dynamic"})):
        return 0
    PendingChanges(services.redis, services.indices.prefix).mark(customer_ids)
    return len(customer_ids)
