"""The benchmark's fixed rule suite: every operator of CONTRACT section 5, over the demo
data's values. The PostgreSQL peer (bench/pg_peer.py) holds hand-written SQL for each
rule under the same name; the bench fails when their counts differ."""
from __future__ import annotations


def group(block: str, *conditions: dict, negate: bool = False, match: str = "all") -> dict:
    return {"block": block, "match": match, "negate": negate, "conditions": list(conditions)}


def rule(*groups: dict, match: str = "all") -> dict:
    return {"match": match, "groups": list(groups)}


SUITE: dict[str, dict] = {
    "city-moscow": rule(group("customer", {"field": "city", "op": "in", "include": ["Moscow"]})),
    "paid-sources-not-capitals": rule(group("customer", {
        "field": "source", "op": "in", "include": ["Yandex.Direct", "Google Ads"],
        "exclude": []}, {"field": "city", "op": "in", "exclude": ["Moscow", "Saint Petersburg"]})),
    "spent-500-5000": rule(group("orders", {"field": "total_spent", "op": "between", "from": 500, "to": 5000})),
    "ordered-last-90-days": rule(group("orders", {"field": "last_order_at", "op": "relative",
                                                  "from_days": -90, "to_days": 0})),
    "birthday-20dec-10jan": rule(group("customer", {"field": "birthday", "op": "between",
                                                    "ignore_year": True, "from": "12-20", "to": "01-10"})),
    "birthday-next-7-days": rule(group("customer", {"field": "birthday", "op": "relative",
                                                    "ignore_year": True, "from_days": 0, "to_days": 7})),
    "women-25-35": rule(group("customer", {"field": "age", "op": "between", "from": 25, "to": 35},
                              {"field": "sex", "op": "in", "include": ["female"]})),
    "bought-chinese-tea": rule(group("products", {"field": "product_groups", "op": "in",
                                                  "include": ["chinese-tea"]})),
    "3-paid-orders-in-a-year": rule(group("orders", {
        "field": "orders", "op": "count", "min": 3, "max": None, "where": {
            "statuses": ["paid", "delivered"], "created": {"op": "relative", "from_days": -365, "to_days": 0}}})),
    "tea-spend-300-in-2-years": rule(group("orders", {
        "field": "orders", "op": "sum", "from": 300, "to": None, "where": {
            "product_groups": ["tea"], "created": {"op": "relative", "from_days": -730, "to_days": 0}}})),
    "subscribed-not-vip": rule(group("communications", {"field": "email_subscribed", "op": "is", "value": True}),
                               group("customer", {"field": "vip", "op": "is", "value": True}, negate=True)),
    "kazan-or-loyal": rule(group("customer", {"field": "city", "op": "in", "include": ["Kazan"]}),
                           group("orders", {"field": "orders_count", "op": "between", "from": 10, "to": None}),
                           match="any"),
    "new-never-cancelled": rule(group("customer", {"field": "created_at", "op": "relative",
                                                   "from_days": -365, "to_days": 0}),
                                group("orders", {"field": "orders", "op": "count", "min": 0, "max": 0,
                                                 "where": {"statuses": ["cancelled"]}})),
    "married-loyalty-2-4": rule(group("customer", {"field": "custom.married", "op": "is", "value": True},
                                      {"field": "custom.loyalty_level", "op": "between", "from": 2, "to": 4})),
}

# Six more segments, so the real-time and analytics phases run with 20 active dynamic
# segments (issues 9 and 14): two conditions on other segments (CONTRACT 6.2), orders with
# `where`, relative dates. Not in the PostgreSQL comparison.
EXTRA: dict[str, dict] = {
    "vip-tea-buyers": rule(group("segments", {"field": "segments", "op": "in",
                                              "include": ["bench-bought-chinese-tea"]}),
                           group("customer", {"field": "vip", "op": "is", "value": True})),
    "moscow-not-tea": rule(group("segments", {"field": "segments", "op": "in",
                                              "include": ["bench-city-moscow"],
                                              "exclude": ["bench-bought-chinese-tea"]})),
    "big-order-last-30-days": rule(group("orders", {
        "field": "orders", "op": "count", "min": 1, "max": None, "where": {
            "total": {"from": 200, "to": None}, "created": {"op": "relative", "from_days": -30, "to_days": 0}}})),
    "cancelled-twice": rule(group("orders", {"field": "orders", "op": "count", "min": 2, "max": None,
                                             "where": {"statuses": ["cancelled"]}})),
    "registered-last-30-days": rule(group("customer", {"field": "created_at", "op": "relative",
                                                       "from_days": -30, "to_days": 0})),
    "lapsed-180-days": rule(group("orders", {"field": "last_order_at", "op": "relative",
                                             "from_days": -730, "to_days": -180})),
}
