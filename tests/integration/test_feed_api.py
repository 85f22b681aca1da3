"""The data feed through the HTTP API against the real node (CONTRACT section 3)."""
from __future__ import annotations

import threading

import pytest

pytestmark = pytest.mark.integration

ALICE = {"id": "c1", "type": "person", "first_name": "Alice", "last_name": "Smith",
         "email": "Alice@Example.COM", "sex": "female", "birthday": "1992-02-29",
         "city": "Moscow", "store": "online", "tags": ["vip-club"], "vip": True,
         "created_at": "2024-01-10T09:00:00+03:00", "email_subscribed": True}


def order(oid, total, status="paid", created="2025-05-01T10:00:00Z", items=None, customer="c1"):
    return {"id": oid, "customer_id": customer, "created_at": created, "status": status,
            "total": total, "items": items or []}


def test_customer_and_two_orders_come_back_with_aggregates(api):
    assert api.put("/api/v1/customers/c1", json=ALICE).status_code == 201
    assert api.put("/api/v1/orders/o1", json=order("o1", 100.50)).status_code == 201
    r = api.put("/api/v1/orders/o2?refresh=wait_for",
                json=order("o2", 49.25, "new", "2025-06-02T08:00:00Z"))
    assert r.status_code == 201
    c = api.get("/api/v1/customers/c1").json
    assert c["orders_count"] == 2
    assert c["total_spent"] == pytest.approx(149.75)
    assert c["average_order_value"] == pytest.approx(74.875)
    assert c["first_order_at"] == "2025-05-01T10:00:00Z"
    assert c["last_order_at"] == "2025-06-02T08:00:00Z"
    assert c["email_domain"] == "example.com"
    assert c["order_statuses"] == ["new", "paid"]
    assert c["created_at"] == "2024-01-10T06:00:00Z"
    assert c["user_groups"] == [] and c["segments"] == []
    # an update of the same order is not a second order
    r = api.put("/api/v1/orders/o2?refresh=wait_for", json=order("o2", 50, "paid", "2025-06-02T08:00:00Z"))
    assert r.status_code == 200
    c = api.get("/api/v1/customers/c1").json
    assert c["orders_count"] == 2 and c["total_spent"] == pytest.approx(150.5)


def test_customer_update_keeps_orders(api):
    api.put("/api/v1/customers/c1", json=ALICE)
    api.put("/api/v1/orders/o1", json=order("o1", 10))
    r = api.put("/api/v1/customers/c1", json={**ALICE, "city": "Kazan"})
    assert r.status_code == 200
    assert r.json["city"] == "Kazan" and r.json["orders_count"] == 1


def test_validation_names_every_bad_field(api):
    bad = {**ALICE, "sex": "x", "birthday": "2023-02-30", "email": "nope", "vip": "yes", "extra": 1}
    r = api.put("/api/v1/customers/c1", json=bad)
    assert r.status_code == 422
    assert r.json["code"] == 422 and r.json["status"] == "Unprocessable Entity"
    assert {"sex", "birthday", "email", "vip", "extra"} <= set(r.json["errors"])
    assert api.get("/api/v1/customers/c1").status_code == 404  # nothing half-written


def test_order_for_unknown_customer_is_refused(api):
    r = api.put("/api/v1/orders/o9", json=order("o9", 5, customer="ghost"))
    assert r.status_code == 422
    assert "customer_id" in r.json["errors"]


def test_bad_order_values(api):
    api.put("/api/v1/customers/c1", json=ALICE)
    r = api.put("/api/v1/orders/o1", json={**order("o1", 1.005), "created_at": "yesterday",
                                             "items": [{"quantity": 1}]})
    assert r.status_code == 422
    assert {"total", "created_at", "items.0.product_id"} <= set(r.json["errors"])


def test_malformed_json_is_422_not_500(api):
    r = api.put("/api/v1/customers/c1", data="{nope", headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json["code"] == 422


def test_bulk_lands_good_items_and_names_bad_ones(api):
    items = [ALICE, {"id": "c2", "email": "bad"}, {"id": "c3", "city": "Kazan"}, {"city": "x"}]
    r = api.post("/api/v1/customers/_bulk?refresh=wait_for", json={"customers": items})
    assert r.status_code == 200
    assert r.json["indexed"] == 2
    bad = {(e["id"], tuple(sorted(e["errors"]))) for e in r.json["errors"]}
    assert bad == {("c2", ("email",)), (None, ("id",))}
    assert api.get("/api/v1/customers/c3").status_code == 200
    orders = [order("o1", 1), order("o2", 2, customer="ghost"), order("o3", 3, customer="c3")]
    r = api.post("/api/v1/orders/_bulk?refresh=wait_for", json={"orders": orders})
    assert r.json["indexed"] == 2 and [e["id"] for e in r.json["errors"]] == ["o2"]


def test_bulk_limit(api):
    r = api.post("/api/v1/customers/_bulk", json={"customers": [{"id": f"c{i}"} for i in range(5001)]})
    assert r.status_code == 422 and "customers" in r.json["errors"]


def test_concurrent_orders_for_one_customer_are_all_counted(api):
    api.put("/api/v1/customers/c1", json=ALICE)
    errors = []

    def write(i):
        r = api.put(f"/api/v1/orders/o{i}", json=order(f"o{i}", 10))
        if r.status_code != 201:
            errors.append(r.json)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    c = api.get("/api/v1/customers/c1").json
    assert c["orders_count"] == 12 and c["total_spent"] == pytest.approx(120)


def test_delete_erases_customer_and_orders(api, es, indices):
    api.put("/api/v1/customers/c1", json=ALICE)
    api.put("/api/v1/orders/o1?refresh=wait_for", json=order("o1", 10))
    assert api.delete("/api/v1/customers/c1?refresh=wait_for").status_code == 204
    assert api.get("/api/v1/customers/c1").status_code == 404
    assert api.delete("/api/v1/customers/c1").status_code == 404
    hits = es.search(index=indices.customers, query={"nested": {"path": "orders", "query": {
        "term": {"orders.id": "o1"}}}})["hits"]["total"]["value"]
    assert hits == 0


def test_product_groups_with_ancestors(api):
    for gid, parent in [("tea", None), ("chinese-tea", "tea"), ("pu-erh", "chinese-tea"), ("coffee", None)]:
        assert api.put(f"/api/v1/product-groups/{gid}", json={"name": gid, "parent_id": parent}).status_code == 201
    assert api.put("/api/v1/products/p1", json={"name": "Shu", "price": 12.5, "groups": ["pu-erh"]}).status_code == 201
    api.put("/api/v1/customers/c1", json=ALICE)
    api.put("/api/v1/orders/o1", json=order("o1", 25, items=[{"product_id": "p1", "quantity": 2, "price": 12.5}]))
    c = api.get("/api/v1/customers/c1").json
    assert c["products"] == ["p1"]
    assert sorted(c["product_groups"]) == ["chinese-tea", "pu-erh", "tea"]


def test_a_product_may_name_a_group_before_it_exists(api, monkeypatch, prefix):
    """Feeds do not promise order: the product is kept, and once its group arrives under a
    parent, the customers who bought it gain the group and the ancestor (the regrouping
    job, run here in a SimpleWorker)."""
    from rq import SimpleWorker

    from tests.conftest import ES_URL, REDIS_URL
    from workers.context import services_for
    for name, value in (("ES_URL", ES_URL), ("REDIS_URL", REDIS_URL), ("SEGSEARCH_INDEX_PREFIX", prefix)):
        monkeypatch.setenv(name, value)
    services_for.cache_clear()
    assert api.put("/api/v1/products/p1", json={"name": "Shu", "price": 12.5, "groups": ["pu-erh"]}).status_code == 201
    api.put("/api/v1/customers/c1", json=ALICE)
    api.put("/api/v1/orders/o1?refresh=wait_for", json=order("o1", 25, items=[{"product_id": "p1", "quantity": 1, "price": 12.5}]))
    assert api.get("/api/v1/customers/c1").json["product_groups"] == ["pu-erh"]
    assert api.put("/api/v1/product-groups/tea", json={"name": "Tea"}).status_code == 201
    assert api.put("/api/v1/product-groups/pu-erh", json={"name": "Pu-erh", "parent_id": "tea"}).status_code == 201
    svc = api.app.extensions["segsearch"]
    SimpleWorker([svc.queue], connection=svc.redis).work(burst=True)
    services_for.cache_clear()
    assert sorted(api.get("/api/v1/customers/c1").json["product_groups"]) == ["pu-erh", "tea"]


def test_group_cycle_is_refused(api):
    api.put("/api/v1/product-groups/a", json={"name": "a"})
    api.put("/api/v1/product-groups/b", json={"name": "b", "parent_id": "a"})
    r = api.put("/api/v1/product-groups/a", json={"name": "a", "parent_id": "b"})
    assert r.status_code == 422 and "parent_id" in r.json["errors"]


def test_custom_fields(api):
    assert api.put("/api/v1/custom-fields/married", json={"label": "Married", "type": "boolean"}).status_code == 201
    assert api.put("/api/v1/custom-fields/anniversary", json={"label": "A", "type": "date"}).status_code == 201
    r = api.put("/api/v1/customers/c1", json={**ALICE, "custom": {"married": True, "anniversary": "2010-06-01"}})
    assert r.status_code == 201 and r.json["custom"] == {"married": True, "anniversary": "2010-06-01"}
    r = api.put("/api/v1/customers/c1", json={**ALICE, "custom": {"married": "yes", "nope": 1}})
    assert r.status_code == 422 and set(r.json["errors"]) == {"custom.married", "custom.nope"}
    r = api.put("/api/v1/custom-fields/married", json={"label": "M", "type": "string"})
    assert r.status_code == 409
    r = api.put("/api/v1/custom-fields/Bad-Code", json={"label": "x", "type": "string"})
    assert r.status_code == 422


def test_auth_401_and_403(api):
    anon = type(api)(api.app, token=None)
    assert anon.get("/api/v1/customers/c1").status_code == 401
    bad = type(api)(api.app, token="nope")
    r = bad.get("/api/v1/customers/c1")
    assert r.status_code == 401 and r.json["code"] == 401
    viewer = api.as_role("viewer")
    assert viewer.put("/api/v1/customers/c1", json=ALICE).status_code == 403
    ingest = api.as_role("ingest")
    assert ingest.put("/api/v1/customers/c1", json=ALICE).status_code == 201
    assert ingest.get("/api/v1/customers/c1").status_code == 403
    assert viewer.get("/api/v1/customers/c1").status_code == 200


def test_healthz_and_openapi(api):
    anon = type(api)(api.app, token=None)
    r = anon.get("/healthz")
    assert r.status_code == 200
    assert r.json["elasticsearch"] == "ok" and r.json["redis"] == "ok"
    spec = anon.get("/api/v1/openapi.json").json
    assert "/api/v1/customers/{customer_id}" in spec["paths"]
