"""The feed service: every write of customer data goes through here.

Customer documents are rewritten whole, under optimistic concurrency (if_seq_no /
if_primary_term) with retries: two orders written at the same moment for one customer
are both counted, and a concurrent membership write is never overwritten (the node has
no scripting, so there are no scripted partial updates). Orders go through the owner
registry (feed.orders) so that moves are exact. Every write reports each item's fate:
landed, or a Failure with its status (feed.failures); a bad item never raises half-way.
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from elasticsearch import ConflictError, Elasticsearch, NotFoundError, helpers

from segsearch.clock import now_iso
from segsearch.errors import Conflict, Invalid, NotFound
from segsearch.feed import derive, failures
from segsearch.feed.catalog import Catalog
from segsearch.feed.failures import MISSING, Failure, WriteFailed
from segsearch.feed.orders import OrderWriter
from segsearch.feed.schemas import CustomerSchema, OrderSchema, load
from segsearch.search.indices import Indices

# A mutation gets the current source (None when absent) and returns the new one, or None
# when the document needs no write.
Mutation = Callable[[dict | None], dict | None]
BULK_ACTIONS = 2000  # customer writes per bulk request (an order batch fits in one)


class ChangeSink:
    """Told which customer documents a feed write touches (real-time membership listens).

    `before` runs before the Elasticsearch write and `after` once it has succeeded, both
    with the ids concerned: a process killed between the write and `after` still left
    the `before` mark, so no change goes unseen. Membership writes (patch_customers) are
    not reported: they are the listener's own output. The default sink does nothing.
    """

    def before(self, customer_ids: Collection[str]) -> None:
        """The write of these customers is about to start."""

    def after(self, customer_ids: Collection[str]) -> None:
        """These customers' documents were written (or deleted)."""


_customer_schema = CustomerSchema()
_order_schema = OrderSchema()


class Feed:
    """Customer and order writes against one instance's indices."""

    def __init__(self, es: Elasticsearch, indices: Indices, occ_retries: int = 20):
        self.es = es
        self.indices = indices
        self.catalog = Catalog(es, indices)
        self.occ_retries = occ_retries
        self.changes = ChangeSink()
        self.orders = OrderWriter(self)

    # -- reads ---------------------------------------------------------------------
    def get_customer(self, customer_id: str) -> dict:
        try:
            return self.es.get(index=self.indices.customers, id=customer_id)["_source"]
        except NotFoundError:
            raise NotFound(f"Customer {customer_id!r} not found.") from None

    def import_dataset(self, **dataset) -> int:
        """Load a whole dataset in API shapes (see feed.loader.import_dataset)."""
        from segsearch.feed.loader import import_dataset
        return import_dataset(self, **dataset)

    # -- customers -----------------------------------------------------------------
    def put_customer(self, customer_id: str, data: Any, refresh: str | None = None) -> tuple[dict, bool]:
        """Upsert one customer; (document, created). A write that did not land raises
        WriteFailed with its status (409 races lost too often, 422 a value the index refuses)."""
        profile = load(_customer_schema, data, ident=customer_id)
        custom_types = self.catalog.custom_types()
        self._check_custom(profile, custom_types)
        created = {}

        def mutate(doc: dict | None) -> dict:
            created["yes"] = doc is None
            orders = doc.get("orders", []) if doc else []
            return derive.customer_document(profile, orders, custom_types, doc)

        failed = self.update_customers({customer_id: mutate}, refresh)
        if customer_id in failed:
            raise WriteFailed(failed[customer_id])
        return self.get_customer(customer_id), created["yes"]

    def bulk_customers(self, items: Any, refresh: str | None = None) -> dict:
        """Upsert many; {"indexed": n, "errors": [{"id", "index", "code", "errors"}]}."""
        custom_types = self.catalog.custom_types()
        errors, mutations, position = [], {}, {}
        for at, item in enumerate(_as_list(items, "customers")):
            try:
                profile = load(_customer_schema, item)
                self._check_custom(profile, custom_types)
            except Invalid as err:
                errors.append(_item_error(_ident(item), at, 422, err.errors))
                continue
            mutations[profile["id"]] = _replace_profile(profile, custom_types)
            position[profile["id"]] = at  # a later duplicate id wins
        failed = self.update_customers(mutations, refresh)
        errors += [_item_error(cid, position[cid], f.status, f.errors()) for cid, f in failed.items()]
        return {"indexed": len(mutations) - len(failed), "errors": errors}

    def delete_customer(self, customer_id: str, refresh: str | None = None) -> None:
        """Erase the customer (under optimistic concurrency, so no order written meanwhile
        survives unseen) and release its orders in the owner registry."""
        self.changes.before([customer_id])
        for _ in range(self.occ_retries):
            try:
                doc = self.es.get(index=self.indices.customers, id=customer_id,
                                  source_includes=["orders.id"])
                self.es.delete(index=self.indices.customers, id=customer_id, refresh=refresh,
                               if_seq_no=doc["_seq_no"], if_primary_term=doc["_primary_term"])
                break
            except NotFoundError:
                raise NotFound(f"Customer {customer_id!r} not found.") from None
            except ConflictError:
                continue
        else:
            raise Conflict("Too many concurrent writes to this customer; retry.")
        self.changes.after([customer_id])
        self.orders.release([o["id"] for o in doc["_source"].get("orders", [])], customer_id, refresh)

    # -- orders --------------------------------------------------------------------
    def put_order(self, order_id: str, data: Any, refresh: str | None = None) -> tuple[dict, bool]:
        """Upsert (or move) one order; (order, created). Not landed: WriteFailed."""
        order = load(_order_schema, data, ident=order_id)
        created, failed = self.orders.write([order], refresh)
        if order_id in failed:
            raise WriteFailed(failed[order_id])
        return order_out(order), order_id in created

    def bulk_orders(self, items: Any, refresh: str | None = None) -> dict:
        """Upsert (or move) many; {"indexed": n, "errors": [{"id", "index", "code", "errors"}]}."""
        errors, orders, position = [], [], {}
        for at, item in enumerate(_as_list(items, "orders")):
            try:
                orders.append(load(_order_schema, item))
            except Invalid as err:
                errors.append(_item_error(_ident(item), at, 422, err.errors))
                continue
            position[orders[-1]["id"]] = at
        result = self.bulk_orders_validated(orders, refresh)
        errors += [_item_error(e["id"], position[e["id"]], e["code"], e["errors"]) for e in result["errors"]]
        return {"indexed": result["indexed"], "errors": errors}

    def bulk_orders_validated(self, orders: list[dict], refresh: str | None) -> dict:
        """Write validated orders; {"indexed", "errors", "created"} (later duplicates win)."""
        created, failed = self.orders.write(orders, refresh)
        distinct = len({o["id"] for o in orders})
        errors = [_item_error(oid, None, f.status, f.errors()) for oid, f in failed.items()]
        return {"indexed": distinct - len(failed), "errors": errors, "created": len(created)}

    # -- catalogue follow-up ---------------------------------------------------------
    def rederive_for_products(self, product_ids: Iterable[str], progress=None) -> int:
        """Recompute the product groups of every customer who bought one of the products."""
        ids = list(product_ids)
        hits = helpers.scan(self.es, index=self.indices.customers, source=False,
                            query={"query": {"terms": {"products": ids}}})
        customer_ids = [h["_id"] for h in hits]
        closures = self.catalog.closures(None)
        for start in range(0, len(customer_ids), 500):
            chunk = customer_ids[start:start + 500]
            self.update_customers({cid: _regroup(closures) for cid in chunk}, None, create=False)
            if progress:
                progress(min(1.0, (start + len(chunk)) / max(1, len(customer_ids))))
        return len(customer_ids)

    # -- the one write loop ------------------------------------------------------------
    def update_customers(self, mutations: Mapping[str, Mutation], refresh: str | None,
                         create: bool = True, read: Mapping[str, dict] | None = None) -> dict[str, Failure]:
        """Apply each mutation to its whole customer document under optimistic concurrency.

        A mutation gets the current source (None when absent) and returns the new one (or
        None: nothing to write). Returns {id: Failure} for the ones that did not land
        (failures.MISSING when absent and create is False); a Failure is the reason string
        with its HTTP status. `read`: documents the caller has just read (mget docs, whole
        source), used for the first attempt instead of reading them again.
        """
        def action(d: dict, mutate: Mutation) -> tuple[dict, dict] | None:
            found = d.get("found", False)
            new = mutate(d["_source"] if found else None)
            if new is None:
                return None
            new["updated_at"] = now_iso()
            meta = {"_index": self.indices.customers, "_id": d["_id"]}
            if found:
                meta.update(if_seq_no=d["_seq_no"], if_primary_term=d["_primary_term"])
                return {"index": meta}, new
            return {"create": meta}, new
        return self._write_with_retries(mutations, action, refresh, create=create, report=True, read=read)

    def patch_customers(self, mutations: Mapping[str, Mutation], fields: list[str],
                        refresh: str | None = None, read: Mapping[str, dict] | None = None
                        ) -> dict[str, Failure]:
        """Like update_customers, for writers that own a few fields (membership, user groups).

        Reads only `fields` and sends a partial `doc` update under the same optimistic
        concurrency (if_seq_no): Elasticsearch merges it without any script, and the
        customer's orders never travel through Python. `read`: as in update_customers, with
        at least `fields` in each source (e.g. search hits with their seq_no/primary_term).
        """
        def action(d: dict, mutate: Mutation) -> tuple[dict, dict]:
            change = mutate(d.get("_source", {}))
            meta = {"_index": self.indices.customers, "_id": d["_id"],
                    "if_seq_no": d["_seq_no"], "if_primary_term": d["_primary_term"]}
            return {"update": meta}, {"doc": {**(change or {}), "updated_at": now_iso()}}
        return self._write_with_retries(mutations, action, refresh, create=False, fields=fields, read=read)

    def _write_with_retries(self, mutations: Mapping[str, Mutation],
                            action: Callable[[dict, Mutation], tuple[dict, dict] | None],
                            refresh: str | None, *, create: bool, fields: list[str] | None = None,
                            report: bool = False, read: Mapping[str, dict] | None = None
                            ) -> dict[str, Failure]:
        """The one optimistic-concurrency loop: read, mutate, write conditionally, and
        re-read and re-mutate whatever lost a race, a bounded number of times.

        `report`: tell `self.changes` (feed writes do; membership writes do not). `read`:
        documents already read, for the first attempt (the write is conditional on their
        version, so a document changed since is simply read again and retried)."""
        pending, failed = dict(mutations), {}
        last: dict[str, Failure] = {}
        if report and pending:
            self.changes.before(list(pending))
        source: dict[str, Any] = {"source_includes": fields} if fields else {}
        for attempt in range(self.occ_retries):
            if not pending:
                break
            if attempt:  # jittered back-off: writers racing for one customer spread out
                time.sleep(random.uniform(0, 0.002 * attempt))
            first = (read or {}) if not attempt else {}
            unread = [k for k in pending if k not in first]
            docs = [first[k] for k in pending if k in first] + (
                self.es.mget(index=self.indices.customers, ids=unread, **source)["docs"] if unread else [])
            actions, unchanged = [], set()
            for d in docs:
                if not d.get("found") and not create:
                    failed[d["_id"]] = MISSING
                    continue
                act = action(d, pending[d["_id"]])
                if act is None:
                    unchanged.add(d["_id"])
                else:
                    actions.append(act)
            done, bad = self._bulk(actions, refresh)
            done |= unchanged
            if report and done:
                self.changes.after(done)
            failed.update({k: f for k, f in bad.items() if not failures.retryable(f.status)})
            last.update(bad)
            pending = {k: v for k, v in pending.items() if k not in done and k not in failed}
        for cid in pending:
            failed[cid] = last.get(cid) or failures.conflict()
        return failed

    def _bulk(self, actions: list[tuple[dict, dict]],
              refresh: str | None) -> tuple[set[str], dict[str, Failure]]:
        """Bulk-write (meta, body) pairs; (ids written, {id: Failure}) item by item.

        Never raises for an item; an unreachable node raises the client's own
        ConnectionError untouched. One request per BULK_ACTIONS, so a client killed
        mid-request has sent all of an order batch's customer writes or none.
        """
        done: set[str] = set()
        failed: dict[str, Failure] = {}
        for start in range(0, len(actions), BULK_ACTIONS):
            chunk = actions[start:start + BULK_ACTIONS]
            operations = [line for pair in chunk for line in pair]
            response = self.es.bulk(operations=operations, refresh=refresh or False)
            for item in response["items"]:
                info = next(iter(item.values()))
                if info.get("status", 500) < 300:
                    done.add(info["_id"])
                elif (info.get("error") or {}).get("type") == "document_missing_exception":
                    failed[info["_id"]] = MISSING  # a partial update of a customer erased since read
                else:
                    failed[info["_id"]] = failures.from_bulk_item(info)
        return done, failed

    def _check_custom(self, profile: dict, custom_types: Mapping[str, str]) -> None:
        errors = {}
        for code, value in (profile.get("custom") or {}).items():
            if code not in custom_types:
                errors[f"custom.{code}"] = ["Unknown custom field (register it first)."]
            elif value is not None and not _custom_ok(custom_types[code], value):
                errors[f"custom.{code}"] = [f"Not a valid {custom_types[code]}."]
        if errors:
            raise Invalid("Invalid fields: " + ", ".join(sorted(errors)), errors)


def _item_error(ident: Any, position: int | None, status: int, errors: dict) -> dict:
    """One bulk item that did not land: its id, position, status and field errors."""
    out = {"id": ident, "index": position, "code": status, "errors": errors}
    return out if position is not None else {k: v for k, v in out.items() if k != "index"}


def _replace_profile(profile: dict, custom_types: Mapping[str, str]) -> Mutation:
    def mutate(doc: dict | None) -> dict:
        return derive.customer_document(profile, (doc or {}).get("orders", []), custom_types, doc)
    return mutate


def _regroup(closures: Mapping[str, list[str]]) -> Mutation:
    def mutate(doc: dict | None) -> dict:
        assert doc is not None
        return derive.rebuild(doc, [derive.regroup_order(o, closures) for o in doc.get("orders", [])])
    return mutate


def _custom_ok(kind: str, value: Any) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "decimal":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "date":
        from datetime import date
        try:
            return isinstance(value, str) and len(value) == 10 and bool(date.fromisoformat(value))
        except ValueError:
            return False
    return False


def _as_list(items: Any, key: str) -> list:
    if not isinstance(items, list):
        raise Invalid(f"'{key}' must be a list.", {key: ["Not a list."]})
    return items


def _ident(item: Any) -> Any:
    return item.get("id") if isinstance(item, dict) else None


def order_out(order: dict) -> dict:
    """An order as the API returns it (decimals as numbers)."""
    out = dict(order)
    out["total"] = float(order["total"])
    out["items"] = [{**i, "price": None if i.get("price") is None else float(i["price"])}
                    for i in order.get("items", [])]
    return out
