"""POST /api/v1/segments/preview, /fields and /segment-templates through the API."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture
def loaded(feed):
    customers = [{"id": f"c{i:05d}", "city": "Moscow" if i % 3 == 0 else "Kazan",
                  "store": "online" if i % 2 else "shop", "vip": i % 10 == 0} for i in range(12_000)]
    feed.import_dataset(customers=customers)
    return customers


def test_preview_exact_count_beyond_10000_sample_and_group_counts(api, loaded):
    rule = {"match": "all", "groups": [
        {"block": "customer", "match": "all", "conditions": [
            {"field": "city", "op": "in", "exclude": ["Moscow"]}]},
        {"block": "customer", "match": "all", "negate": True, "conditions": [
            {"field": "vip", "op": "is", "value": True}]}]}
    r = api.post("/api/v1/segments/preview", json={"rule": rule, "sample_size": 5})
    assert r.status_code == 200, r.json
    kazan = [c for c in loaded if c["city"] == "Kazan"]
    assert r.json["count"] == len([c for c in kazan if not c["vip"]])
    assert len(r.json["sample"]) == 5 and all(s["city"] == "Kazan" for s in r.json["sample"])
    assert [g["count"] for g in r.json["groups"]] == [len(kazan), len([c for c in loaded if not c["vip"]])]
    assert r.json["took_ms"] >= 0
    scoped = api.post("/api/v1/segments/preview", json={"rule": rule, "store": "shop"}).json
    assert scoped["count"] == len([c for c in kazan if not c["vip"] and c["store"] == "shop"])


def test_preview_empty_rule_is_everyone(api, loaded):
    r = api.post("/api/v1/segments/preview", json={"rule": {"match": "all", "groups": []}})
    assert r.json["count"] == 12_000 and r.json["groups"] == []


def test_invalid_rule_is_422_with_paths(api):
    rule = {"match": "all", "groups": [
        {"block": "customer", "conditions": [{"field": "city", "op": "in", "include": ["x"]}]},
        {"block": "customer", "conditions": [
            {"field": "birthday", "op": "between", "from": "2020-05-01", "to": "2020-02-30"}]},
        {"block": "customer", "conditions": [{"field": "nope", "op": "in"}]}]}
    r = api.post("/api/v1/segments/preview", json={"rule": rule})
    assert r.status_code == 422
    assert "rule.groups.1.conditions.0.to" in r.json["errors"]
    assert any(k.startswith("rule.groups.2.conditions.0") for k in r.json["errors"])
    r = api.post("/api/v1/segments/preview", json={"rule": "x", "sample_size": 1000})
    assert r.status_code == 422 and {"rule", "sample_size"} <= set(r.json["errors"])


def test_fields_include_custom_fields(api):
    api.put("/api/v1/custom-fields/married", json={"label": "Married", "type": "boolean"})
    items = {f["code"]: f for f in api.get("/api/v1/fields").json["items"]}
    assert {"city", "birthday", "age", "orders", "product_groups", "custom.married"} <= set(items)
    assert items["custom.married"]["block"] == "customer"
    assert "is" in items["custom.married"]["operators"]


def test_templates_preview_cleanly(api, loaded):
    templates = api.get("/api/v1/segment-templates").json["items"]
    assert len(templates) >= 8
    for t in templates:
        r = api.post("/api/v1/segments/preview", json={"rule": t["rule"], "sample_size": 0})
        assert r.status_code == 200, (t["code"], r.json)


def test_preview_needs_a_token(api):
    anon = type(api)(api.app, token=None)
    assert anon.post("/api/v1/segments/preview", json={"rule": {}}).status_code == 401


def test_cached_catalogue_follows_custom_field_writes_of_other_processes(api, prefix, feed):
    """Each process caches the field catalogue; a write in another one (here: a second app
    and a feed without any app) is seen on the very next request, whichever way it goes."""
    from segsearch import create_app
    from tests.conftest import ADMIN_TOKEN, ES_URL, REDIS_URL, ApiClient
    other = ApiClient(create_app({"ES_URL": ES_URL, "REDIS_URL": REDIS_URL, "INDEX_PREFIX": prefix,
                                  "BOOTSTRAP_TOKEN": ADMIN_TOKEN}))
    rule = {"match": "all", "groups": [{"block": "customer", "conditions": [
        {"field": "custom.married", "op": "is", "value": True}]}]}

    def preview():
        return api.post("/api/v1/segments/preview", json={"rule": rule}).status_code

    catalog = api.app.extensions["segsearch"].feed.catalog
    searches = []
    search = catalog._search_custom_fields
    catalog._search_custom_fields = lambda: searches.append(1) or search()  # type: ignore[method-assign]
    assert preview() == 422 and preview() == 422
    assert len(searches) == 1  # the second request used the cached catalogue
    assert other.put("/api/v1/custom-fields/married",
                     json={"label": "Married", "type": "boolean"}).status_code == 201
    assert preview() == 200
    assert other.app.extensions["segsearch"].feed.catalog.delete_custom_field("married")
    assert preview() == 422
    feed.catalog.put_custom_field("married", {"label": "Married", "type": "boolean"})
    assert preview() == 200
    assert "custom.married" in {f["code"] for f in api.get("/api/v1/fields").json["items"]}
    assert len(searches) == 4


def test_without_redis_the_catalogue_is_read_from_the_index_every_time(es, indices, feed):
    from redis import Redis

    from segsearch.feed.catalog import Catalog, CatalogVersion
    catalog = Catalog(es, indices)
    catalog.version = CatalogVersion(Redis.from_url("redis://127.0.0.1:9/0"), indices.prefix)
    assert catalog.custom_fields() == []
    feed.catalog.put_custom_field("married", {"label": "Married", "type": "boolean"})
    assert [f["code"] for f in catalog.custom_fields()] == ["married"]  # nothing was cached
