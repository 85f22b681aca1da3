"""The bulk loader: documents built in worker processes equal those built in-process, the
owner registry is filled, and both indices get their settings back after the load."""
from __future__ import annotations

from datetime import date

import pytest
from elasticsearch import helpers

from segsearch.demo.generator import DemoConfig, catalogue_data, iter_customers
from segsearch.feed.loader import import_customers, load_catalog

pytestmark = pytest.mark.integration

CONFIG = DemoConfig(customers=120, seed=3, today=date(2026, 11, 30))


def _load_settings(es, indices) -> list:
    """What the loader changes for the load (refresh, replicas), as the indices have it."""
    return [next(iter(es.indices.get_settings(index=index, flat_settings=True).values()))["settings"]
            .get(key) for index in (indices.customers, indices.order_owners)
            for key in ("index.refresh_interval", "index.number_of_replicas")]


def _documents(es, index: str) -> dict[str, dict]:
    return {h["_id"]: {k: v for k, v in h["_source"].items() if k != "updated_at"}
            for h in helpers.scan(es, index=index, query={"query": {"match_all": {}}})}


@pytest.mark.parametrize("processes", [0, 2])
def test_load_in_processes_builds_the_same_documents(es, feed, indices, processes):
    load_catalog(feed, **catalogue_data(CONFIG))
    pairs = list(iter_customers(CONFIG))
    settings = _load_settings(es, indices)
    written = import_customers(feed, iter(pairs), chunk_size=25, processes=processes)
    assert written == len(pairs)
    docs = _documents(es, indices.customers)
    assert set(docs) == {c["id"] for c, _ in pairs}
    # The same pairs through the single-process path give the same documents.
    from segsearch.feed.loader import _actions
    expected = {a["_id"]: {k: v for k, v in a["_source"].items() if k != "updated_at"}
                for a in _actions((indices.customers, indices.order_owners), pairs,
                                  feed.catalog.custom_types(), feed.catalog.closures(None))
                if a["_index"] == indices.customers}
    assert docs == expected
    owners = _documents(es, indices.order_owners)
    assert {oid: o["customer_id"] for oid, o in owners.items()} == {
        o["id"]: c["id"] for c, orders in pairs for o in orders}
    assert _load_settings(es, indices) == settings  # put back as they were


def test_generated_in_the_workers_is_the_same_load(es, feed, indices):
    from segsearch.feed.loader import import_generated
    load_catalog(feed, **catalogue_data(CONFIG))
    counts = []
    customers, orders = import_generated(feed, CONFIG, chunk_size=25, processes=2,
                                         progress=counts.append)
    pairs = list(iter_customers(CONFIG))
    assert (customers, orders) == (len(pairs), sum(len(o) for _, o in pairs))
    assert sum(counts) == customers
    from segsearch.feed.loader import _actions
    expected = {a["_id"]: {k: v for k, v in a["_source"].items() if k != "updated_at"}
                for a in _actions((indices.customers, indices.order_owners), pairs,
                                  feed.catalog.custom_types(), feed.catalog.closures(None))
                if a["_index"] == indices.customers}
    assert _documents(es, indices.customers) == expected


def test_a_failed_load_names_the_document_and_puts_the_settings_back(es, feed, indices):
    load_catalog(feed, custom_fields=[{"code": "level", "label": "Level", "type": "integer"}])
    pairs = [({"id": "a1", "custom": {"level": 1}}, []),
             ({"id": "a2", "custom": {"level": "high"}}, [])]  # the index refuses a text long
    settings = _load_settings(es, indices)
    with pytest.raises(RuntimeError, match="bulk load failed on 1 documents"):
        import_customers(feed, iter(pairs))
    assert _load_settings(es, indices) == settings  # put back as they were
    assert es.count(index=indices.customers)["count"] == 1  # refreshed: a1 is searchable
