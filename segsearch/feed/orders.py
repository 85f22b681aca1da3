"""Order writes: exact whatever the timing, convergent after a crash.

The owner registry (feed.owners) is the truth of where each order lives; customer
documents follow it. Per batch of orders, each step one request (four in all when no
race is lost; items add one read of their products, and order ids the registry has never
seen the search for copies written before it existed):

  1. claim    read the orders' entries and their owners' documents in real time (one
              mget), plan the new entries (new owner, the order as stored, every earlier
              holder listed as stale) and write them conditionally; an entry that changed
              meanwhile is re-read and re-planned.
  2. converge write every customer concerned in one bulk, each under its own optimistic
              concurrency: the owner holds the order, the stale holders don't. The
              owners' documents read in step 1 are the first attempt's (a customer
              written since loses the race, is read again and retried).
  3. confirm  one conditional request per entry, all in one bulk: an unchanged entry gets
              its stale list cleared (or, with none, an empty no-op update that only
              checks its version). One that changed meanwhile (a concurrent write of the
              same order) answers 409, is re-read and converged again to its new state,
              so a copy written late is taken back.

A process killed after 1 leaves entries whose stale lists still name the old owners: the
next write of the same order (a client retrying a request that got no answer) finishes
the move. Step 2 is one bulk request per batch, so a client killed mid-request has sent
all of a batch's customer writes or none of them. If any customer write of an order
fails (unknown customer, a value the index refuses, races lost too often), its entry is
put back as it was and converged again: the order did not land, and is reported so.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from elasticsearch import Elasticsearch

from segsearch.feed import derive
from segsearch.feed.failures import MISSING, UNKNOWN_CUSTOMER, Failure, retryable
from segsearch.feed.owners import Entry, OwnerRegistry, registry_entry

if TYPE_CHECKING:
    from segsearch.feed.service import Feed, Mutation

BATCH = 500  # orders per claim + converge round (one customer bulk each)
MAX_ROUNDS = 10  # confirm rounds while concurrent writers keep moving the same orders
LOST_RACE = Failure("Too many concurrent writes to this order; retry.", 409)


class OrderWriter:
    """Writes validated orders for one Feed (its customers index, registry, catalogue)."""

    def __init__(self, feed: Feed):
        self.feed = feed
        self.registry = OwnerRegistry(feed.es, feed.indices.order_owners)

    def write(self, orders: list[dict], refresh: str | None) -> tuple[set[str], dict[str, Failure]]:
        """Validated orders (a later duplicate id wins) -> (ids created, {id: failure})."""
        latest = {o["id"]: o for o in orders}
        products = {i["product_id"] for o in latest.values() for i in o["items"]}
        found = self.feed.catalog.closures(products)
        closures = {p: found.get(p, []) for p in products}  # unknown products: no groups
        wanted = {oid: (o["customer_id"], derive.order_document(o, closures))
                  for oid, o in latest.items()}
        ids = list(wanted)
        created: set[str] = set()
        failed: dict[str, Failure] = {}
        for start in range(0, len(ids), BATCH):
            new, bad = self._batch({oid: wanted[oid] for oid in ids[start:start + BATCH]}, refresh,
                                   closures)
            created |= new
            failed.update(bad)
        return created, failed

    def release(self, order_ids: Iterable[str], customer_id: str, refresh: str | None) -> None:
        """The customer was erased: its orders belong to no one (unless moved meanwhile)."""
        current = self.registry.read(order_ids)
        released, _ = self.registry.write(
            replace(e.handed_to(None, None), stale=tuple(c for c in e.stale if c != customer_id))
            for e in current.values() if e.customer_id == customer_id)
        self._settle(released, refresh)  # copies a half-done move left elsewhere go too

    # -- one batch ---------------------------------------------------------------------
    def _batch(self, wanted: dict[str, tuple[str, dict]], refresh: str | None,
               closures: Mapping[str, list[str]]) -> tuple[set[str], dict[str, Failure]]:
        owners, entries = self._read({cid for cid, _ in wanted.values()}, wanted)
        failed = {oid: UNKNOWN_CUSTOMER for oid, (cid, _) in wanted.items() if not owners[cid].get("found")}
        before, claimed, lost = self._claim({k: v for k, v in wanted.items() if k not in failed}, entries)
        failed.update(lost)
        not_landed = self._settle(claimed, refresh, read=owners, closures=closures)
        if not_landed:
            self._undo({oid: before[oid] for oid in not_landed}, claimed, refresh)
            failed.update(not_landed)
        created = {oid for oid in claimed if oid not in failed and before[oid].customer_id is None}
        return created, failed

    def _read(self, customer_ids: Iterable[str], order_ids: Iterable[str]
              ) -> tuple[dict[str, dict], dict[str, Entry]]:
        """The owners' documents and the orders' registry entries, in one real-time mget.

        The documents serve to tell unknown customers and as the converge's first read
        (its writes are conditional on their versions, so one changed since is re-read)."""
        cids, oids = list(customer_ids), list(order_ids)
        docs = self.feed.es.mget(docs=[{"_index": self.feed.indices.customers, "_id": cid} for cid in cids]
                                 + [{"_index": self.registry.index, "_id": oid} for oid in oids],
                                 realtime=True)["docs"]
        owners = {d["_id"]: d for d in docs[:len(cids)]}  # in request order (indices are aliases)
        return owners, {d["_id"]: registry_entry(d) for d in docs[len(cids):]}

    def _claim(self, wanted: Mapping[str, tuple[str, dict]], read: Mapping[str, Entry] | None = None
               ) -> tuple[dict[str, Entry], dict[str, Entry], dict[str, Failure]]:
        """Write the new entries; (entries as they were, entries written, failures).

        `read`: the entries as just read, for the first plan (else they are read here)."""
        pending = dict(wanted)
        before: dict[str, Entry] = {}
        claimed: dict[str, Entry] = {}
        failed: dict[str, Failure] = {}
        for attempt in range(self.feed.occ_retries):
            if not pending:
                break
            current = self._current(pending, None if attempt else read)
            plans = [current[oid].handed_to(cid, doc) for oid, (cid, doc) in pending.items()]
            written, lost = self.registry.write(plans)
            for oid, entry in written.items():
                claimed[oid], before[oid] = entry, current[oid]
            failed.update({oid: f for oid, f in lost.items() if not retryable(f.status)})
            pending = {oid: v for oid, v in pending.items()
                       if oid in lost and retryable(lost[oid].status)}
        failed.update({oid: LOST_RACE for oid in pending})
        return before, claimed, failed

    def _current(self, order_ids: Iterable[str], read: Mapping[str, Entry] | None = None) -> dict[str, Entry]:
        """Registry entries (`read`: as just read); orders written before the registry
        existed are found by search."""
        current = {oid: read[oid] for oid in order_ids} if read is not None else self.registry.read(order_ids)
        legacy = [oid for oid, e in current.items() if e.version is None and e.customer_id is None]
        if legacy:
            current.update(_legacy_entries(self.feed.es, self.feed.indices.customers, legacy))
        return current

    # -- converge and confirm ----------------------------------------------------------
    def _settle(self, claimed: dict[str, Entry], refresh: str | None, *,
                read: Mapping[str, dict] | None = None,
                closures: Mapping[str, list[str]] | None = None) -> dict[str, Failure]:
        """Converge the customers to our entries and confirm; the orders that did not land.

        `read` / `closures`: customer documents and product closures already read."""
        not_landed = self._converge(claimed, refresh, read=read, closures=closures)
        state = {oid: e for oid, e in claimed.items() if oid not in not_landed}
        for _ in range(MAX_ROUNDS):
            changed = self.registry.confirm(state.values())  # and clears the stale lists
            if not changed:
                break
            # Written after ours: converge to it too, over the customers we wrote as well
            # (its writer may have found nothing to remove there before our copy landed).
            fresh = self.registry.read(changed)
            moved = {oid: e.also_stale(state[oid].holders()) for oid, e in fresh.items()}
            trouble = self._converge(moved, refresh)
            state = {oid: e for oid, e in moved.items() if oid not in trouble}
        return not_landed

    def _converge(self, state: Mapping[str, Entry], refresh: str | None, *,
                  read: Mapping[str, dict] | None = None,
                  closures: Mapping[str, list[str]] | None = None) -> dict[str, Failure]:
        """Make every customer concerned hold exactly what these entries say, in one bulk.

        Returns {order id: failure} for orders whose owner (or a stale holder) failed.
        `read` / `closures`: customer documents and product closures already read.
        """
        by_customer: dict[str, list[str]] = {}
        for oid, entry in state.items():
            for cid in entry.holders():
                by_customer.setdefault(cid, []).append(oid)
        if not by_customer:
            return {}
        closures = dict(closures or {})
        products = {p for e in state.values() if e.order for p in e.order.get("product_ids", [])}
        if products - closures.keys():  # the catalogue as it is now (products of other writers)
            closures.update(self.feed.catalog.closures(products - closures.keys()))
        mutations = {cid: _holding(cid, [state[oid] for oid in oids], closures)
                     for cid, oids in by_customer.items()}
        failed = self.feed.update_customers(mutations, refresh, create=False, read=read)
        out: dict[str, Failure] = {}
        for cid, failure in failed.items():
            oids = by_customer[cid]
            if failure.status == 422 and len(oids) > 1:  # which order does the index refuse?
                for oid in oids:
                    out.update(self._converge({oid: state[oid]}, refresh))
                continue
            for oid in oids:
                if failure is MISSING and cid != state[oid].customer_id:
                    continue  # a stale holder erased since: no copy left to remove
                out.setdefault(oid, UNKNOWN_CUSTOMER if failure is MISSING else failure)
        return out

    def _undo(self, before: Mapping[str, Entry], claimed: Mapping[str, Entry],
              refresh: str | None) -> None:
        """Put entries back as they were before our claim (if nobody wrote since) and converge."""
        current = self.registry.read(before)
        plans = [current[oid].handed_to(e.customer_id, e.order) for oid, e in before.items()
                 if current[oid].version == claimed[oid].version]
        restored, _ = self.registry.write(plans)  # a lost race: a newer write supersedes ours
        self._settle(restored, refresh)


def _holding(customer_id: str, entries: list[Entry], closures: Mapping[str, list[str]]) -> Mutation:
    """The customer holds each order it owns (as the entry says) and none of the others."""
    def mutate(doc: dict | None) -> dict | None:
        assert doc is not None
        orders = {o["id"]: o for o in doc.get("orders", [])}
        changed = False
        for e in entries:
            if e.customer_id == customer_id and e.order is not None:
                order = derive.regroup_order(e.order, closures)  # groups as the catalogue is now
                changed |= orders.get(e.order_id) != order
                orders[e.order_id] = order
            elif orders.pop(e.order_id, None) is not None:
                changed = True
        return derive.rebuild(doc, list(orders.values())) if changed else None
    return mutate


def _legacy_entries(es: Elasticsearch, index: str, order_ids: list[str]) -> dict[str, Entry]:
    """Entries for orders that customers hold but the registry has never seen (near-real-time
    search: such orders were written before the registry, not within the last second)."""
    res = es.search(index=index, size=len(order_ids), source=False, query={"nested": {
        "path": "orders", "query": {"terms": {"orders.id": order_ids}},
        "inner_hits": {"size": 100, "_source": True}}})
    holders: dict[str, list[tuple[str, dict]]] = {}
    for hit in res["hits"]["hits"]:
        for inner in hit["inner_hits"]["orders"]["hits"]["hits"]:
            holders.setdefault(inner["_source"]["id"], []).append((hit["_id"], inner["_source"]))
    return {oid: Entry(oid, found[0][0], tuple(sorted({c for c, _ in found[1:]})), found[0][1])
            for oid, found in holders.items()}
