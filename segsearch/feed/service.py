"""The feed service: every write of customer data goes through here.

Customer documents are rewritten whole, under optimistic concurrency (if_seq_no /
if_primary_term) with retries: two orders written at the same moment for one customer
are both counted, and a concurrent membership write is never overwritten (the node has
no scripting, so there are no scripted partial updates).
"""
from __future__ import annotations

from typing import Any, Callable, Collection, Iterable, Mapping

from elasticsearch import Elasticsearch, NotFoundError, helpers
from segsearch.clock import now_iso
from segsearch.errors import Invalid, NotFound
from segsearch.feed import derive
from segsearch.feed.catalog import Catalog
from segsearch.feed.schemas import CustomerSchema, OrderSchema, load
from segsearch.search.indices import Indices

Mutation = Callable[[dict | None], dict | None]


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
        profile = load(_customer_schema, data, ident=customer_id)
        custom_types = self.catalog.custom_types()
        self._check_custom(profile, custom_types)
        created = {}

        def mutate(doc: dict | None) -> dict:
            created["yes"] = doc is None
            orders = doc.get("orders", []) if doc else []
            return derive.customer_document(profile, orders, custom_types, doc)

        self.update_customers({customer_id: mutate}, refresh)
        return self.get_customer(customer_id), created["yes"]

    def bulk_customers(self, items: Any, refresh: str | None = None) -> dict:
        custom_types = self.catalog.custom_types()
        errors, mutations = [], {}
        for position, item in enumerate(_as_list(items, "customers")):
            try:
                profile = load(_customer_schema, item)
                self._check_custom(profile, custom_types)
            except Invalid as err:
                errors.append({"id": _ident(item), "index": position, "errors": err.errors})
                continue
            mutations[profile["id"]] = _replace_profile(profile, custom_types)
        failed = self.update_customers(mutations, refresh)
        errors += [{"id": i, "errors": {"_schema": [m]}} for i, m in failed.items()]
        return {"indexed": len(mutations) - len(failed), "errors": errors}

    def delete_customer(self, customer_id: str, refresh: str | None = None) -> None:
        self.changes.before([customer_id])
        try:
            self.es.delete(index=self.indices.customers, id=customer_id, refresh=refresh)
        except NotFoundError:
            raise NotFound(f"Customer {customer_id!r} not found.") from None
        self.changes.after([customer_id])

    # -- orders --------------------------------------------------------------------
    def put_order(self, order_id: str, data: Any, refresh: str | None = None) -> tuple[dict, bool]:
        order = load(_order_schema, data, ident=order_id)
        result = self.bulk_orders_validated([order], refresh, single=True)
        if result["errors"]:
            err = result["errors"][0]["errors"]
            raise Invalid("Invalid fields: " + ", ".join(sorted(err)), err)
        return order_out(order), result["created"] == 1

    def bulk_orders(self, items: Any, refresh: str | None = None) -> dict:
        errors, orders = [], []
        for position, item in enumerate(_as_list(items, "orders")):
            try:
                orders.append(load(_order_schema, item))
            except Invalid as err:
                errors.append({"id": _ident(item), "index": position, "errors": err.errors})
        result = self.bulk_orders_validated(orders, refresh)
        return {"indexed": result["indexed"], "errors": errors + result["errors"]}

    def bulk_orders_validated(self, orders: list[dict], refresh: str | None,
                              single: bool = False) -> dict:
        closures = self.catalog.closures({i["product_id"] for o in orders for i in o["items"]})
        by_customer: dict[str, list[dict]] = {}
        for order in orders:  # a later duplicate id in one request wins
            by_customer.setdefault(order["customer_id"], []).append(order)
        moved = self._owners_elsewhere(orders)
        counts = {"created": 0}
        mutations = {cid: _add_orders(group, closures, counts) for cid, group in by_customer.items()}
        for cid, ids in moved.items():
            if cid not in mutations:
                mutations[cid] = _drop_orders(ids)
        failed = self.update_customers(mutations, refresh, create=False)
        errors = [{"id": o["id"], "errors": {"customer_id": ["Unknown customer."]}}
                  for o in orders if failed.get(o["customer_id"]) == "missing"]
        errors += [{"id": o["id"], "errors": {"_schema": [failed[o["customer_id"]]]}}
                   for o in orders if failed.get(o["customer_id"]) not in (None, "missing")]
        return {"indexed": len(orders) - len(errors), "errors": errors, "created": counts["created"]}

    def _owners_elsewhere(self, orders: list[dict]) -> dict[str, set[str]]:
        """Customers that hold one of these order ids but are not its customer any more."""
        if not orders:
            return {}
        owner = {o["id"]: o["customer_id"] for o in orders}
        res = self.es.search(index=self.indices.customers, size=len(owner), _source=False,
                             query={"nested": {"path": "orders", "query": {
                                 "terms": {"orders.id": list(owner)}}, "inner_hits": {
                                 "_source": ["orders.id"], "size": 100}}})
        moved: dict[str, set[str]] = {}
        for hit in res["hits"]["hits"]:
            for inner in hit["inner_hits"]["orders"]["hits"]["hits"]:
                oid = inner["_source"]["id"]
                if owner.get(oid) not in (None, hit["_id"]):
                    moved.setdefault(hit["_id"], set()).add(oid)
        return moved

    # -- catalogue follow-up ---------------------------------------------------------
    def rederive_for_products(self, product_ids: Iterable[str], progress=None) -> int:
        """Recompute the product groups of every customer who bought one of the products."""
        ids = list(product_ids)
        hits = helpers.scan(self.es, index=self.indices.customers, _source=False,
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
                         create: bool = True) -> dict[str, str]:
        """Apply each mutation to its whole customer document under optimistic concurrency.

        A mutation gets the current source (None when absent) and returns the new one.
        Returns {id: reason} for the ones that could not be written ("missing" when absent
        and create is False).
        """
        def action(d: dict, mutate: Mutation) -> dict:
            found = d.get("found", False)
            new = mutate(d["_source"] if found else None)
            new["updated_at"] = now_iso()
            out = {"_index": self.indices.customers, "_id": d["_id"], "_source": new}
            if found:
                out.update(if_seq_no=d["_seq_no"], if_primary_term=d["_primary_term"])
            else:
                out["_op_type"] = "create"
            return out
        return self._write_with_retries(mutations, action, refresh, create=create, report=True)

    def patch_customers(self, mutations: Mapping[str, Mutation], fields: list[str],
                        refresh: str | None = None) -> dict[str, str]:
        """Like update_customers, for writers that own a few fields (membership, user groups).

        Reads only `fields` and sends a partial `doc` update under the same optimistic
        concurrency (if_seq_no): Elasticsearch merges it without any script, and the
        customer's orders never travel through Python.
        """
        def action(d: dict, mutate: Mutation) -> dict:
            change = mutate(d.get("_source", {}))
            return {"_op_type": "update", "_index": self.indices.customers, "_id": d["_id"],
                    "if_seq_no": d["_seq_no"], "if_primary_term": d["_primary_term"],
                    "doc": {**change, "updated_at": now_iso()}}
        return self._write_with_retries(mutations, action, refresh, create=False, fields=fields)

    def _write_with_retries(self, mutations: Mapping[str, Mutation],
                            action: Callable[[dict, Mutation], dict], refresh: str | None, *,
                            create: bool, fields: list[str] | None = None,
                            report: bool = False) -> dict[str, str]:
        """The one optimistic-concurrency loop: read, mutate, write conditionally, and
        re-read and re-mutate whatever lost a race, a bounded number of times.

        `report`: tell `self.changes` (feed writes do; membership writes do not)."""
        pending, failed = dict(mutations), {}
        if report and pending:
            self.changes.before(list(pending))
        source = {"_source_includes": fields} if fields else {}
        for _ in range(self.occ_retries):
            if not pending:
                break
            docs = self.es.mget(index=self.indices.customers, ids=list(pending), **source)["docs"]
            actions = []
            for d in docs:
                if not d.get("found") and not create:
                    failed[d["_id"]] = "missing"
                    continue
                actions.append(action(d, pending[d["_id"]]))
            pending = {k: v for k, v in pending.items() if k not in failed}
            done = self._bulk(actions, refresh)
            if report and done:
                self.changes.after(done)
            pending = {k: v for k, v in pending.items() if k not in done}
        for cid in pending:
            failed[cid] = "Too many concurrent writes to this customer; retry."
        return failed

    def _bulk(self, actions: list[dict], refresh: str | None) -> set[str]:
        """Bulk-write; the ids written. Version conflicts are left for the caller's retry."""
        if not actions:
            return set()
        done = set()
        for ok, item in helpers.streaming_bulk(self.es, actions, raise_on_error=False,
                                               raise_on_exception=False, chunk_size=500,
                                               refresh=refresh or False):
            info = next(iter(item.values()))
            if ok:
                done.add(info["_id"])
            elif info.get("status") != 409:
                raise RuntimeError(f"bulk write failed for {info['_id']}: {info.get('error')}")
        return done

    def _check_custom(self, profile: dict, custom_types: Mapping[str, str]) -> None:
        errors = {}
        for code, value in (profile.get("custom") or {}).items():
            if code not in custom_types:
                errors[f"custom.{code}"] = ["Unknown custom field (register it first)."]
            elif value is not None and not _custom_ok(custom_types[code], value):
                errors[f"custom.{code}"] = [f"Not a valid {custom_types[code]}."]
        if errors:
            raise Invalid("Invalid fields: " + ", ".join(sorted(errors)), errors)


def _replace_profile(profile: dict, custom_types: Mapping[str, str]) -> Mutation:
    def mutate(doc: dict | None) -> dict:
        return derive.customer_document(profile, (doc or {}).get("orders", []), custom_types, doc)
    return mutate


def _add_orders(orders: list[dict], closures: Mapping[str, list[str]], counts: dict) -> Mutation:
    def mutate(doc: dict | None) -> dict:
        assert doc is not None
        new = {o["id"]: derive.order_document(o, closures) for o in orders}
        kept = [o for o in doc.get("orders", []) if o["id"] not in new]
        counts["created"] = len(new) - (len(doc.get("orders", [])) - len(kept))
        return _rebuild(doc, kept + list(new.values()))
    return mutate


def _drop_orders(order_ids: set[str]) -> Mutation:
    def mutate(doc: dict | None) -> dict:
        assert doc is not None
        return _rebuild(doc, [o for o in doc.get("orders", []) if o["id"] not in order_ids])
    return mutate


def _regroup(closures: Mapping[str, list[str]]) -> Mutation:
    def mutate(doc: dict | None) -> dict:
        assert doc is not None
        return _rebuild(doc, [derive.regroup_order(o, closures) for o in doc.get("orders", [])])
    return mutate


def _rebuild(doc: dict, orders: list[dict]) -> dict:
    """Same profile and membership, new orders: re-derive everything order-based."""
    new = {k: v for k, v in doc.items() if k not in derive.AGGREGATE_FIELDS}
    new["orders"] = sorted(orders, key=lambda o: (o["created_at"], o["id"]))
    new.update({k: v for k, v in derive.aggregates(new["orders"]).items() if v is not None})
    if new.get("average_order_value") is None:
        new.pop("average_order_value", None)
    return new


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
