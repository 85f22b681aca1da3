"""The pure derivation of customer documents (no I/O)."""
from __future__ import annotations

import pytest

from segsearch.errors import Invalid
from segsearch.feed import derive
from segsearch.feed.schemas import CustomerSchema, OrderSchema, load


@pytest.mark.parametrize("iso, md", [("1992-02-29", 229), ("2000-12-31", 1231), ("1985-01-03", 103)])
def test_month_day(iso, md):
    assert derive.month_day(iso) == md


def test_group_closure_follows_parents_and_survives_cycles():
    parents = {"pu-erh": "chinese-tea", "chinese-tea": "tea", "tea": None, "a": "b", "b": "a"}
    assert derive.group_closure(["pu-erh"], parents) == ["pu-erh", "chinese-tea", "tea"]
    assert derive.group_closure(["a"], parents) == ["a", "b"]
    assert derive.group_closure(["pu-erh", "tea"], parents) == ["pu-erh", "chinese-tea", "tea"]


def _order(oid, total, created, status="paid", items=()):
    return load(OrderSchema(), {"id": oid, "customer_id": "c1", "created_at": created,
                                "status": status, "total": total, "items": list(items)})


def test_customer_document_aggregates():
    closures = {"p1": ["pu-erh", "chinese-tea", "tea"], "p2": ["cups"]}
    orders = [derive.order_document(_order("o2", "10.10", "2025-02-01T00:00:00Z", "new",
                                           [{"product_id": "p2"}]), closures),
              derive.order_document(_order("o1", 0.2, "2025-01-01T00:00:00+03:00", "paid",
                                           [{"product_id": "p1"}, {"product_id": "p1"}]), closures)]
    profile = load(CustomerSchema(), {"id": "c1", "email": "a@Mail.RU", "birthday": "2000-02-29",
                                      "custom": {"d": "2001-12-31", "s": "x"}})
    doc = derive.customer_document(profile, orders, {"d": "date", "s": "string"},
                                   {"segments": ["s1"], "manual_user_groups": ["VIP"]})
    assert doc["orders_count"] == 2
    assert doc["total_spent"] == pytest.approx(10.3)
    assert doc["average_order_value"] == pytest.approx(5.15)
    assert doc["first_order_at"] == "2024-12-31T21:00:00Z"
    assert doc["last_order_at"] == "2025-02-01T00:00:00Z"
    assert doc["order_statuses"] == ["new", "paid"]
    assert doc["products"] == ["p1", "p2"]
    assert doc["product_groups"] == ["chinese-tea", "cups", "pu-erh", "tea"]
    assert [o["id"] for o in doc["orders"]] == ["o1", "o2"]
    assert doc["orders"][0]["product_ids"] == ["p1"] and doc["orders"][0]["total_minor"] == 20
    assert doc["email_domain"] == "mail.ru" and doc["birthday_md"] == 229
    assert doc["custom_md"] == {"d": 1231}
    assert doc["segments"] == ["s1"] and doc["manual_user_groups"] == ["VIP"]
    assert derive.profile_of(doc) == {k: v for k, v in profile.items() if v is not None}


def test_no_orders_means_no_average():
    profile = load(CustomerSchema(), {"id": "c1"})
    doc = derive.customer_document(profile, [], {})
    assert doc["orders_count"] == 0 and "average_order_value" not in doc


@pytest.mark.parametrize("total", ["1.005", -1, True, "abc"])
def test_money_is_non_negative_with_two_decimals(total):
    with pytest.raises(Invalid) as err:
        _order("o1", total, "2025-01-01T00:00:00Z")
    assert "total" in err.value.errors


def test_naive_datetimes_are_utc():
    o = _order("o1", 1, "2025-01-01T10:00:00")
    assert o["created_at"] == "2025-01-01T10:00:00Z"
