"""GET /api/v1/fields/{field}/values (the editor's value suggestions), and the admin's
session-authenticated twin that calls the same service function."""
from __future__ import annotations

import pytest

from segsearch.segments import values
from tests.integration.test_admin import Admin

pytestmark = pytest.mark.integration

GROUPS = [{"id": "tea", "name": "Tea"}, {"id": "chinese", "name": "Chinese tea", "parent_id": "tea"}]
PRODUCTS = [{"id": "p1", "name": "Pu-erh", "groups": ["chinese"]}, {"id": "p2", "name": "Sencha", "groups": ["tea"]}]
CUSTOMERS = [{"id": "c1", "city": "Moscow", "tags": ["a", "b"], "custom": {"tier": "Gold"}}, {"id": "c2", "city": "Moscow"},
             {"id": "c3", "city": "Moscow Oblast"}, {"id": "c4", "city": "Kazan", "tags": ["b"]},
             {"id": "c5", "city": "moscow"}]
ORDERS = [{"id": "o1", "customer_id": "c1", "created_at": "2025-01-01T00:00:00Z", "status": "paid",
           "total": 10, "items": [{"product_id": "p1", "quantity": 1, "price": 10}]}]


@pytest.fixture
def data(api, feed):
    values.clear_cache()
    feed.catalog.put_custom_field("tier", {"label": "Tier", "type": "string"})
    feed.import_dataset(product_groups=GROUPS, products=PRODUCTS, customers=CUSTOMERS, orders=ORDERS)
    return api


def items(response) -> list[tuple]:
    assert response.status_code == 200, response.json
    return [(i["value"], i["label"], i["count"]) for i in response.json["items"]]


def test_values_most_common_first_and_by_prefix_in_any_case(data):
    api = data
    assert items(api.get("/api/v1/fields/city/values")) == [
        ("Moscow", None, 2), ("Kazan", None, 1), ("Moscow Oblast", None, 1), ("moscow", None, 1)]
    # values equal to the prefix (any case) come first, then the others by customers
    assert items(api.get("/api/v1/fields/city/values?prefix=MOSCOW")) == [
        ("Moscow", None, 2), ("moscow", None, 1), ("Moscow Oblast", None, 1)]
    assert items(api.get("/api/v1/fields/city/values?prefix=kaz&size=1")) == [("Kazan", None, 1)]
    assert items(api.get("/api/v1/fields/tags/values?prefix=b")) == [("b", None, 2)]
    assert items(api.get("/api/v1/fields/custom.tier/values?prefix=g")) == [("Gold", None, 1)]
    assert items(api.get("/api/v1/fields/city/values?prefix=a.*")) == []  # no regex gets through
    body = api.get("/api/v1/fields/city/values?prefix=mo").json
    assert body["field"] == "city" and body["prefix"] == "mo"


def test_products_and_groups_are_found_by_name(data):
    api = data
    assert items(api.get("/api/v1/fields/products/values?prefix=PU-")) == [("p1", "Pu-erh", 1)]
    assert items(api.get("/api/v1/fields/product_groups/values?prefix=chinese")) == [
        ("chinese", "Tea › Chinese tea", 1)]
    assert ("tea", "Tea", 1) in items(api.get("/api/v1/fields/product_groups/values"))


def test_unknown_and_non_keyword_fields_are_422(data):
    api = data
    r = api.get("/api/v1/fields/nope/values")
    assert r.status_code == 422 and r.json["errors"] == {"path.field": ["Unknown field."]}
    r = api.get("/api/v1/fields/birthday/values")
    assert r.status_code == 422 and "keyword" in r.json["errors"]["path.field"][0]
    assert api.get("/api/v1/fields/city/values?size=0").status_code == 422
    assert api.get("/api/v1/fields/city/values?prefix=" + "x" * 101).status_code == 422
    assert api.get("/api/v1/fields/city/values?prefix=%01").status_code == 422


def test_roles_and_the_openapi_document(data):
    api = data
    assert api.as_role("viewer").get("/api/v1/fields/city/values").status_code == 200
    assert api.as_role("ingest").get("/api/v1/fields/city/values").status_code == 403
    spec = api.get("/api/v1/openapi.json").json
    op = spec["paths"]["/api/v1/fields/{field}/values"]["get"]
    assert {"200", "422"} <= set(op["responses"])


def test_the_admin_asks_the_same_service(data, app):
    admin = Admin(app)
    r = admin.get("/admin/fields/city/values?prefix=mos")
    assert r.status_code == 200
    assert r.json == data.get("/api/v1/fields/city/values?prefix=mos").json
    r = admin.get("/admin/fields/segments/values")
    assert r.status_code == 422 and r.json["errors"]["path.field"]
    assert admin.get("/admin/fields/city/values?size=x").status_code == 422
    logged_out = app.test_client().get("/admin/fields/city/values")
    assert logged_out.status_code == 401 and logged_out.is_json
