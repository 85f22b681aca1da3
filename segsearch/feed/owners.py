"""The order-owner registry: which customer each order belongs to, read in real time.

One small document per order id in `<prefix>order-owners` (index_templates/
order-owners.json), written under optimistic concurrency and read with real-time mget,
never by search: a move, and a move back within one refresh interval, always see the
latest owner. The entry is the truth; customer documents are brought into line with it
(feed.orders). `stale` lists customers that may still hold a copy of the order: it is
cleared only once a writer has confirmed their copies are gone, so a process killed
half-way leaves the work to be finished by the next write of the same order.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from elasticsearch import Elasticsearch

from segsearch.clock import now_iso
from segsearch.feed import failures
from segsearch.feed.failures import Failure


@dataclass(frozen=True)
class Entry:
    """One order's registry document and the version it was read or written at."""

    order_id: str
    customer_id: str | None
    stale: tuple[str, ...] = ()
    order: dict | None = None
    version: tuple[int, int] | None = None  # (primary_term, seq_no); None: not stored yet

    def holders(self) -> set[str]:
        """Every customer that may hold this order: the owner and the stale ones."""
        return ({self.customer_id} if self.customer_id else set()) | set(self.stale)

    def handed_to(self, customer_id: str | None, order: dict | None) -> Entry:
        """The next entry: a new owner (or none) and content; the old holders become stale."""
        stale = self.holders() - {customer_id}
        return replace(self, customer_id=customer_id, order=order, stale=tuple(sorted(stale)))

    def also_stale(self, customer_ids: set[str]) -> Entry:
        """The same entry with these customers (other than the owner) possibly holding copies."""
        stale = (set(self.stale) | customer_ids) - {self.customer_id}
        return replace(self, stale=tuple(sorted(stale)))

    def without_stale(self) -> Entry:
        """The same entry once every stale copy is confirmed gone."""
        return replace(self, stale=())

    def source(self) -> dict[str, Any]:
        return {"customer_id": self.customer_id, "stale": list(self.stale), "order": self.order,
                "updated_at": now_iso()}


class OwnerRegistry:
    def __init__(self, es: Elasticsearch, index: str):
        self.es = es
        self.index = index

    def read(self, order_ids: Iterable[str]) -> dict[str, Entry]:
        """Real-time entries of these orders; an unknown order gets an empty, unstored one."""
        ids = list(order_ids)
        if not ids:
            return {}
        docs = self.es.mget(index=self.index, ids=ids, realtime=True)["docs"]
        return {d["_id"]: registry_entry(d) for d in docs}

    def write(self, entries: Iterable[Entry]) -> tuple[dict[str, Entry], dict[str, Failure]]:
        """Conditional writes (if unchanged since read, or create if new), in one request.

        Returns the entries written (with their new versions) and the failures; a 409
        means another writer got there first: re-read and re-plan.
        """
        entries = list(entries)
        if not entries:
            return {}, {}
        operations: list[dict] = []
        for e in entries:
            meta: dict[str, Any] = {"_index": self.index, "_id": e.order_id}
            if e.version is None:
                operations.append({"create": meta})
            else:
                meta.update(if_primary_term=e.version[0], if_seq_no=e.version[1])
                operations.append({"index": meta})
            operations.append(e.source())
        response = self.es.bulk(operations=operations)
        written, failed = {}, {}
        for e, item in zip(entries, response["items"]):
            info = next(iter(item.values()))
            if info.get("status", 500) < 300:
                version = (info["_primary_term"], info["_seq_no"])
                written[e.order_id] = replace(e, version=version)
            else:
                failed[e.order_id] = failures.from_bulk_item(info)
        return written, failed

    def confirm(self, entries: Iterable[Entry]) -> set[str]:
        """Check that each entry is still the version written, in one request; clear the
        stale lists of those that have one. Returns the order ids whose entry changed since
        (or could not be checked): read those again.

        Entries without stale holders are checked by an empty partial update under the
        same condition (a no-op, answered 200 "noop" or 409), so the check and the
        clearing of stale lists are one request, and a clear that loses a race is seen."""
        entries = list(entries)
        operations: list[dict] = []
        changed = {e.order_id for e in entries if e.version is None}
        for e in entries:
            if e.version is None:
                continue
            meta = {"_index": self.index, "_id": e.order_id,
                    "if_primary_term": e.version[0], "if_seq_no": e.version[1]}
            if e.stale:
                operations += [{"index": meta}, e.without_stale().source()]
            else:
                operations += [{"update": meta}, {"doc": {}}]
        if operations:
            for item in self.es.bulk(operations=operations)["items"]:
                info = next(iter(item.values()))
                if info.get("status", 500) >= 300:
                    changed.add(info["_id"])
        return changed


def registry_entry(doc: Mapping[str, Any]) -> Entry:
    """The entry of an mget doc of the registry (an empty, unstored one when not found)."""
    if not doc.get("found"):
        return Entry(doc["_id"], None)
    src = doc["_source"]
    return Entry(doc["_id"], src.get("customer_id"), tuple(src.get("stale") or ()), src.get("order"),
                 (doc["_primary_term"], doc["_seq_no"]))
