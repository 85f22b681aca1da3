"""Fast loading of whole datasets (demo data, benchmark, tests).

Builds every customer document in memory with the same derivation as the feed's write
path and bulk-indexes them in parallel chunks. Items are validated as the feed validates
them, through feed.quickload (the same results and errors as the schemas, without their
per-item overhead). It writes whole documents without
optimistic concurrency, so it is for loading, not for live feeds: membership fields of
customers it overwrites are reset. Each order's owner is recorded in the owner registry
too (feed.owners), so later feed writes move loaded orders exactly.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from typing import Any

from elasticsearch.serializer import JsonSerializer

from segsearch.clock import now_iso
from segsearch.demo.generator import DemoConfig, iter_customers
from segsearch.errors import Invalid
from segsearch.feed import derive
from segsearch.feed.quickload import QuickLoader
from segsearch.feed.schemas import CustomerSchema, OrderSchema

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


def import_customers(feed, pairs: Iterable[tuple[dict, list[dict]]], *, chunk_size: int = 500,
                     threads: int = 2, processes: int = 0, progress: Progress | None = None) -> int:
    """Index (customer, orders) pairs as whole documents; returns how many were written.

    Each chunk of `chunk_size` customers becomes one bulk request (its customers and their
    orders' registry entries), encoded where it is built: with `processes` > 1 in worker
    processes, while this one only sends the bytes, `threads` requests at a time.
    """
    return _load(feed, _chunks(pairs, chunk_size), threads, processes, progress)[0]


def import_generated(feed, config: DemoConfig, *, chunk_size: int = 500, threads: int = 2,
                     processes: int = 2, progress: Progress | None = None) -> tuple[int, int]:
    """The demo dataset's customers (`config`), generated where their documents are built:
    in the worker processes, which then send this one only bulk bodies. (customers, orders)."""
    chunks = (partial(iter_customers, config, start=start, stop=start + chunk_size)
              for start in range(0, config.customers, chunk_size))
    return _load(feed, chunks, threads, processes, progress)


Chunk = list | Callable[[], Iterable]  # customer pairs, or what makes them where it is built
Body = tuple[bytes, int, int]  # an NDJSON bulk body, the customers and orders it writes


def _load(feed, chunks: Iterator[Chunk], threads: int, processes: int,
          progress: Progress | None) -> tuple[int, int]:
    context = ((feed.indices.customers, feed.indices.order_owners),
               feed.catalog.custom_types(), feed.catalog.closures(None))
    if processes > 1:
        bodies = _bodies_in_processes(context, chunks, processes)
    else:
        bodies = (_body(context, chunk) for chunk in chunks)
    customers = orders = 0
    with _bulk_settings(feed), ThreadPoolExecutor(threads) as senders:
        for n_customers, n_orders in _bounded(senders, partial(_send, feed.es), bodies, threads * 2):
            customers, orders = customers + n_customers, orders + n_orders
            if progress:
                progress(n_customers)
    return customers, orders


def _send(es, body: Body) -> tuple[int, int]:
    # Only errors come back: a bulk's full response is as large as its request.
    res = es.bulk(operations=body[0], filter_path="errors,items.*.error")
    if res["errors"]:
        failed = [item for item in res["items"] if next(iter(item.values())).get("error")]
        raise RuntimeError(f"bulk load failed on {len(failed)} documents, first: {failed[0]}")
    return body[1], body[2]


def _bounded(pool, func: Callable, items: Iterator, ahead: int) -> Iterator:
    """func over items in `pool`, results in order, at most `ahead` running at once."""
    pending = [pool.submit(func, item) for item in itertools.islice(items, ahead)]
    while pending:
        result = pending.pop(0).result()
        nxt = next(items, None)
        if nxt is not None:
            pending.append(pool.submit(func, nxt))
        yield result


def _bodies_in_processes(context: tuple, chunks: Iterator[Chunk], processes: int) -> Iterator[Body]:
    with ProcessPoolExecutor(processes, initializer=_init_worker, initargs=context) as pool:
        # bounded look-ahead: memory stays flat however many customers stream in
        yield from _bounded(pool, _build_chunk, chunks, processes * 2)


_WORKER_CONTEXT: tuple = ()


def _init_worker(*context) -> None:
    global _WORKER_CONTEXT
    _WORKER_CONTEXT = context


def _build_chunk(chunk: Chunk) -> Body:
    return _body(_WORKER_CONTEXT, chunk)


_json = JsonSerializer()  # the client's own encoder, so documents read back the same


def _body(context: tuple, chunk: Chunk) -> Body:
    index, custom_types, closures = context
    lines, customers, orders = [], 0, 0
    for action in _actions(index, chunk() if callable(chunk) else chunk, custom_types, closures):
        if action["_index"] == index[0]:
            customers += 1
        else:
            orders += 1
        lines.append(_json.dumps({"index": {"_index": action["_index"], "_id": action["_id"]}}))
        lines.append(_json.dumps(action["_source"]))
    lines.append(b"")
    return b"\n".join(lines), customers, orders


def _chunks(pairs: Iterable, size: int) -> Iterator[list]:
    it = iter(pairs)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


LOAD_SETTINGS = ("index.refresh_interval", "index.number_of_replicas")


@contextmanager
def _bulk_settings(feed) -> Iterator[None]:
    """No periodic refresh while loading (segment merges are the cost), and no replicas
    when the index had them and was green (one copy after the load beats copying every
    write); both put back as they were, and one refresh, however the load ends. The
    owner registry takes as many documents as there are orders, so it is treated alike."""
    es = feed.es
    before: dict[str, dict] = {}
    for alias in (feed.indices.customers, feed.indices.order_owners):
        got = es.indices.get_settings(index=alias, name=list(LOAD_SETTINGS), flat_settings=True)
        for name, body in got.items():  # a setting left at its default is put back as None
            before[name] = {key: body["settings"].get(key) for key in LOAD_SETTINGS}
    green = es.cluster.health(index=list(before))["status"] == "green"
    dropped = [n for n, s in before.items() if green and int(s["index.number_of_replicas"] or 0) > 0]
    for name in before:
        es.indices.put_settings(index=name, settings={
            "index.refresh_interval": "-1", **({"index.number_of_replicas": 0} if name in dropped else {})})
    try:
        yield
    finally:
        for name, settings in before.items():
            es.indices.put_settings(index=name, settings={
                "index.refresh_interval": settings["index.refresh_interval"],
                **({"index.number_of_replicas": settings["index.number_of_replicas"]}
                   if name in dropped else {})})
            es.indices.refresh(index=name)
        if dropped:  # the replicas are copied before the load counts as done
            es.cluster.health(index=dropped, wait_for_status="green", timeout="30m")


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


_quick_customer = QuickLoader(CustomerSchema())
_quick_order = QuickLoader(OrderSchema())


def _actions(index: tuple[str, str], pairs, custom_types, closures) -> Iterator[dict[str, Any]]:
    """The customer document, then one owner-registry entry per order it holds."""
    customers, owners = index
    stamp = now_iso()
    for customer, orders in pairs:
        profile = _quick_customer.load(customer)
        nested = [derive.order_document(_quick_order.load(o), closures) for o in orders]
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
