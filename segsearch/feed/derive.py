"""Pure derivation of a customer document from its profile, orders and the catalogue.

Everything the rule compiler reads but clients never write is computed here, in one
place, for the single-write path, the bulk path and the demo loader alike:
month-day ordinals for ignore-year dates, per-order product ids and groups (ancestors
included), and the customer aggregates of CONTRACT section 3.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

# Written by segsearch (membership engine), kept across every feed write.
MEMBERSHIP_FIELDS = ("segments", "manual_user_groups", "segment_user_groups", "user_groups")
# Derived from the profile (rewritten with it) and from the orders (rewritten with them).
PROFILE_DERIVED = ("email_domain", "email_lc", "birthday_md", "custom_md")
AGGREGATE_FIELDS = ("orders_count", "total_spent", "average_order_value",
                    "first_order_at", "last_order_at", "order_statuses", "products",
                    "product_groups")


def month_day(iso_date: str) -> int:
    """'1992-02-29' -> 229: (month, day) as one orderable number."""
    d = date.fromisoformat(iso_date)
    return d.month * 100 + d.day


def group_closure(group_ids: Iterable[str], parents: Mapping[str, str | None]) -> list[str]:
    """The groups with every ancestor, following parent links (cycle-safe)."""
    out: list[str] = []
    for start in group_ids:
        seen: set[str] = set()
        gid: str | None = start
        while gid is not None and gid not in seen:
            seen.add(gid)
            if gid not in out:
                out.append(gid)
            gid = parents.get(gid)
    return out


def order_document(order: Mapping[str, Any], closures: Mapping[str, list[str]]) -> dict:
    """The nested order as indexed. `closures`: product id -> its groups with ancestors."""
    total = Decimal(str(order["total"]))
    product_ids = list(dict.fromkeys(i["product_id"] for i in order.get("items", [])))
    groups: list[str] = []
    for pid in product_ids:
        groups.extend(g for g in closures.get(pid, ()) if g not in groups)
    items = [{"product_id": i["product_id"], "quantity": i.get("quantity", 1),
              "price": None if i.get("price") is None else float(i["price"])}
             for i in order.get("items", [])]
    return {
        "id": order["id"], "created_at": order["created_at"], "status": order["status"],
        "pipeline": order.get("pipeline"), "store": order.get("store"),
        "total": float(total), "total_minor": int(total * 100),
        "product_ids": product_ids, "product_groups": groups, "items": items,
    }


def regroup_order(order_doc: Mapping[str, Any], closures: Mapping[str, list[str]]) -> dict:
    """An indexed order with its product groups recomputed (after a catalogue change)."""
    groups: list[str] = []
    for pid in order_doc.get("product_ids", []):
        groups.extend(g for g in closures.get(pid, ()) if g not in groups)
    return {**order_doc, "product_groups": groups}


def aggregates(orders: Sequence[Mapping[str, Any]]) -> dict:
    """Customer-level aggregates over every order, whatever its status."""
    if not orders:
        return {"orders_count": 0, "total_spent": 0.0, "average_order_value": None,
                "first_order_at": None, "last_order_at": None, "order_statuses": [],
                "products": [], "product_groups": []}
    spent = sum(Decimal(o["total_minor"]) for o in orders) / 100
    created = sorted(o["created_at"] for o in orders)
    return {
        "orders_count": len(orders),
        "total_spent": float(spent),
        "average_order_value": float(spent) / len(orders),
        "first_order_at": created[0],
        "last_order_at": created[-1],
        "order_statuses": sorted({o["status"] for o in orders}),
        "products": sorted({p for o in orders for p in o["product_ids"]}),
        "product_groups": sorted({g for o in orders for g in o["product_groups"]}),
    }


def rebuild(doc: Mapping[str, Any], orders: Sequence[Mapping[str, Any]]) -> dict:
    """The same customer (profile, membership) holding these orders, aggregates re-derived."""
    new = {k: v for k, v in doc.items() if k not in AGGREGATE_FIELDS}
    new["orders"] = sorted(orders, key=lambda o: (o["created_at"], o["id"]))
    new.update({k: v for k, v in aggregates(new["orders"]).items() if v is not None})
    return new


def profile_document(profile: Mapping[str, Any], custom_types: Mapping[str, str]) -> dict:
    """Client-written customer fields plus their derived companions (md ordinals, domain)."""
    doc = {k: v for k, v in profile.items() if v is not None and k != "custom"}
    email = profile.get("email")
    doc["email_domain"] = email.rsplit("@", 1)[1].lower() if email and "@" in email else None
    doc["email_lc"] = email.lower() if email else None  # imports match e-mails in any case
    doc["birthday_md"] = month_day(profile["birthday"]) if profile.get("birthday") else None
    custom = {k: v for k, v in (profile.get("custom") or {}).items() if v is not None}
    doc["custom"] = custom
    doc["custom_md"] = {k: month_day(v) for k, v in custom.items()
                        if custom_types.get(k) == "date"}
    return doc


def customer_document(profile: Mapping[str, Any], orders: Sequence[Mapping[str, Any]],
                      custom_types: Mapping[str, str],
                      membership: Mapping[str, Any] | None = None) -> dict:
    """The whole indexed customer: profile, nested orders, aggregates, membership."""
    doc = profile_document(profile, custom_types)
    doc["orders"] = sorted(orders, key=lambda o: (o["created_at"], o["id"]))
    doc.update(aggregates(doc["orders"]))
    for key in MEMBERSHIP_FIELDS:
        doc[key] = list((membership or {}).get(key) or [])
    return {k: v for k, v in doc.items() if v is not None}


def profile_of(doc: Mapping[str, Any]) -> dict:
    """The client-written part of a stored customer document."""
    derived = {"orders", "updated_at", *PROFILE_DERIVED, *AGGREGATE_FIELDS, *MEMBERSHIP_FIELDS}
    return {k: v for k, v in doc.items() if k not in derived}
