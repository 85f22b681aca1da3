"""Fast loading of whole datasets (demo data, benchmark, tests).

Builds every customer document in memory with the same derivation as the feed's write
path and bulk-indexes them in parallel chunks. It writes whole documents without
optimistic concurrency, so it is for loading, not for live feeds: membership fields of
customers it overwrites are reset. Each order's owner is recorded in the owner registry
too (feed.owners), so later feed writes move loaded orders exactly.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any

from elasticsearch import helpers

from segsearch.clock import now_iso
from segsearch.errors import Invalid
from segsearch.feed import derive
from segsearch.feed.schemas import CustomerSchema, OrderSchema, load

Progress = Callable[[int], None]


def load_catalog(feed, *, product_groups: Iterable[dict] = (), products: Iterable[dict] = (),
                 custom_fields: Iterable[dict] = ()) -> None:
    """Groups first (products need the tree), then products, then custom fields."""
    for group in _parents_first(list(product_groups)):
        feed.catalog.put_group(group["id"], group)
    products = list(products)
    if products:
        result = feed.catalog.put_products(products)
        if result["errors"]:
            raise Invalid("Invalid products.", {"products": result["errors"]})
    for field in custom_fields:
        feed.catalog.put_custom_field(field["code"], field)


def import_customers(feed, pairs: Iterable[tuple[dict, list[dict]]], *, chunk_size: int = 1000,
                     threads: int = 2, processes: int = 0, progress: Progress | None = None) -> int:
    """Index (customer, orders) pairs as whole documents; returns how many were written.

    Validation (marshmallow) dominates the Python side, so with `processes` > 1 the
    documents are built in worker processes while this one feeds the bulk requests.
    """
    custom_types = feed.catalog.custom_types()
    closures = feed.catalog.closures(None)
    index = (feed.indices.customers, feed.indices.order_owners)
    if processes > 1:
        actions = _actions_in_processes(index, pairs, custom_types, closures, processes, chunk_size)
    else:
        actions = _actions(index, pairs, custom_types, closures)
    written = 0
    with _refresh_paused(feed):
        for ok, item in helpers.parallel_bulk(feed.es, actions, thread_count=threads,
                                              chunk_size=chunk_size, raise_on_error=False):
            if not ok:
                raise RuntimeError(f"bulk load failed: {item}")
            if next(iter(item.values()))["_index"].startswith(f"{index[1]}-v"):
                continue  # registry entries ride along; progress counts customers
            written += 1
            if progress and written % chunk_size == 0:
                progress(chunk_size)
    if progress:
        progress(written % chunk_size)
    return written


def _actions_in_processes(index, pairs, custom_types, closures, processes: int,
                          chunk_size: int) -> Iterator[dict[str, Any]]:
    context = (index, custom_types, closures)
    with ProcessPoolExecutor(processes, initializer=_init_worker, initargs=context) as pool:
        chunks = _chunks(pairs, chunk_size)
        # bounded look-ahead: memory stays flat however many customers stream in
        pending = [pool.submit(_build_chunk, c) for c in itertools.islice(chunks, processes * 2)]
        while pending:
            done = pending.pop(0).result()
            nxt = next(chunks, None)
            if nxt is not None:
                pending.append(pool.submit(_build_chunk, nxt))
            yield from done


_WORKER_CONTEXT: tuple = ()


def _init_worker(index: tuple[str, str], custom_types: dict, closures: dict) -> None:
    global _WORKER_CONTEXT
    _WORKER_CONTEXT = (index, custom_types, closures)


def _build_chunk(chunk: list) -> list[dict]:
    index, custom_types, closures = _WORKER_CONTEXT
    return list(_actions(index, chunk, custom_types, closures))


def _chunks(pairs: Iterable, size: int) -> Iterator[list]:
    it = iter(pairs)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


@contextmanager
def _refresh_paused(feed) -> Iterator[None]:
    """No periodic refresh while loading (segment merges are the cost); one refresh after.
    The owner registry takes as many documents as there are orders, so it pauses too."""
    indices = [feed.indices.customers, feed.indices.order_owners]
    for index in indices:
        feed.es.indices.put_settings(index=index, settings={"index": {"refresh_interval": "-1"}})
    try:
        yield
    finally:
        for index in indices:
            feed.es.indices.put_settings(index=index, settings={"index": {"refresh_interval": "1s"}})
            feed.es.indices.refresh(index=index)


def import_dataset(feed, *, product_groups: Iterable[dict] = (), products: Iterable[dict] = (),
                   custom_fields: Iterable[dict] = (), customers: Iterable[dict] = (),
                   orders: Iterable[dict] = (), refresh: bool = True) -> int:
    """A whole dataset in API shapes, as lists; orders joined to their customers."""
    load_catalog(feed, product_groups=product_groups, products=products,
                 custom_fields=custom_fields)
    by_customer: dict[str, list[dict]] = {}
    for order in orders:
        by_customer.setdefault(order["customer_id"], []).append(order)
    customers = list(customers)
    unknown = set(by_customer) - {c["id"] for c in customers}
    if unknown:
        raise Invalid("Orders for unknown customers.", {"customer_id": sorted(unknown)})
    n = import_customers(feed, ((c, by_customer.get(c["id"], [])) for c in customers))
    if refresh:
        feed.es.indices.refresh(index=feed.indices.customers)
    return n


def _actions(index: tuple[str, str], pairs, custom_types, closures) -> Iterator[dict[str, Any]]:
    """The customer document, then one owner-registry entry per order it holds."""
    customers, owners = index
    customer_schema, order_schema = CustomerSchema(), OrderSchema()
    stamp = now_iso()
    for customer, orders in pairs:
        profile = load(customer_schema, customer)
        nested = [derive.order_document(load(order_schema, o), closures) for o in orders]
        doc = derive.customer_document(profile, nested, custom_types)
        doc["updated_at"] = stamp
        yield {"_index": customers, "_id": profile["id"], "_source": doc}
        for order in nested:
            yield {"_index": owners, "_id": order["id"], "_source": {
                "customer_id": profile["id"], "stale": [], "order": order, "updated_at": stamp}}


def _parents_first(groups: list[dict]) -> list[dict]:
    """Order groups so a parent is written before its children."""
    by_id = {g["id"]: g for g in groups}
    out, seen = [], set()

    def visit(g: dict, trail: frozenset) -> None:
        if g["id"] in seen or g["id"] in trail:
            return
        parent = by_id.get(g.get("parent_id"))
        if parent:
            visit(parent, trail | {g["id"]})
        seen.add(g["id"])
        out.append(g)

    for g in groups:
        visit(g, frozenset())
    return out
