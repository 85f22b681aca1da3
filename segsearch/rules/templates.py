"""Ready-made rules to start a segment from (``GET /api/v1/segment-templates``).

Each rule is written in full normalised form and validates against the built-in
catalogue (tests/unit/rules/test_templates.py checks that).
"""

from __future__ import annotations


def _rule(block: str, *conditions: dict, negate: bool = False) -> dict:
    # Every template is a single group; the editor can add more.
    group = {"block": block, "match": "all", "negate": negate, "conditions": list(conditions)}
    return {"match": "all", "groups": [group]}


def _orders(min_: int | None, max_: int | None, **where: object) -> dict:
    return {"field": "orders", "op": "count", "min": min_, "max": max_, "where": dict(where)}


TEMPLATES: list[dict] = [
    {
        "code": "repeat-customers",
        "name": "Repeat customers",
        "description": "Customers with two or more orders.",
        "rule": _rule("orders", _orders(2, None)),
    },
    {
        "code": "one-time-buyers",
        "name": "One-time buyers",
        "description": "Customers with exactly one order: a second purchase is the goal.",
        "rule": _rule("orders", _orders(1, 1)),
    },
    {
        "code": "lapsed-customers",
        "name": "Lapsed customers",
        "description": "The last order was more than 180 days ago.",
        "rule": _rule(
            "orders",
            {"field": "last_order_at", "op": "relative", "from_days": None, "to_days": -181},
        ),
    },
    {
        "code": "high-spenders",
        "name": "High spenders",
        "description": "Customers who have spent 1000 or more in total.",
        "rule": _rule(
            "orders", {"field": "total_spent", "op": "between", "from": 1000, "to": None}
        ),
    },
    {
        "code": "birthday-next-7-days",
        "name": "Birthday in the next 7 days",
        "description": "The birthday (any year) falls between today and 7 days from now.",
        "rule": _rule(
            "customer",
            {
                "field": "birthday",
                "op": "relative",
                "from_days": 0,
                "to_days": 7,
                "ignore_year": True,
            },
        ),
    },
    {
        "code": "new-last-30-days",
        "name": "New in the last 30 days",
        "description": "Customers created during the last 30 days, today included.",
        "rule": _rule(
            "customer", {"field": "created_at", "op": "relative", "from_days": -30, "to_days": 0}
        ),
    },
    {
        "code": "never-ordered",
        "name": "Never ordered",
        "description": "Customers without a single order.",
        "rule": _rule("orders", _orders(0, 0)),
    },
    {
        "code": "email-subscribed",
        "name": "Subscribed to e-mail",
        "description": "Customers who accept e-mail campaigns.",
        "rule": _rule(
            "communications", {"field": "email_subscribed", "op": "is", "value": True}
        ),
    },
    {
        "code": "bought-tea-last-90-days",
        "name": "Bought tea in the last 90 days",
        "description": (
            "At least one order in the last 90 days with a product of the 'tea' group "
            "(or of any group below it). Replace 'tea' with your own group id."
        ),
        "rule": _rule(
            "orders",
            _orders(
                1,
                None,
                product_groups=["tea"],
                created={"op": "relative", "from_days": -90, "to_days": 0},
            ),
        ),
    },
    {
        "code": "vip-customers",
        "name": "VIP customers",
        "description": "Customers marked as VIP.",
        "rule": _rule("customer", {"field": "vip", "op": "is", "value": True}),
    },
]
