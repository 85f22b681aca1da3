"""An independent, deliberately naive evaluator of the segment rule language.

Written only from /work/shared/CONTRACT.md (sections 3 and 5), sharing no code with
``segsearch.rules``: its job is to catch the compiler's mistakes, so it evaluates every
rule the slow, obvious way -- one customer at a time, looping over orders, with plain
date arithmetic and exact decimals.

Readings where the contract is silent (the compiler must agree with these; each is what a
marketer building a segment would expect):

R1  Derived fields. ``orders_count`` and ``total_spent`` always have a value: a customer
    without orders has ``orders_count = 0`` and ``total_spent = 0`` (so "spent at most
    100" and "orders_count 0..0" include them, and ``missing`` never matches these two).
    ``average_order_value``, ``first_order_at`` and ``last_order_at`` are absent without
    orders; ``order_statuses``, ``products`` and ``product_groups`` are then empty lists.
    Every order counts, whatever its status. ``products`` are the ``product_id`` of every
    item of every order; ``product_groups`` the groups of those products (per the product
    catalogue) plus every ancestor group. ``first/last_order_at`` are the earliest/latest
    instants (the local day is taken when a condition compares them).
R2  ``email_domain`` is the lower-cased text after the LAST '@' of the e-mail; an e-mail
    without '@' (or with nothing after it) has no domain. The e-mail itself is not
    lower-cased.
R3  Keyword comparison is exact and case-sensitive (the mapping has no normaliser); rule
    operands are not lower-cased either, so ``email_domain in ["Mail.ru"]`` matches
    nobody.
R4  "No value" = the key is absent, null, or an empty list (list fields). An empty
    string is a value (the generators never produce one). ``exists``/``missing`` follow
    this; ``false`` is a value of a boolean field.
R5  ``in`` with both ``include`` and ``exclude`` empty matches everyone (no constraint).
    A customer without a value fails whenever ``include`` is non-empty and passes an
    exclude-only condition. On list fields "has an include value" = any list element is
    included; "none of the exclude values" = no list element is excluded.
R6  ``between``/``relative`` with both ends null match every customer that HAS a value.
    ``from > to`` (without ignore_year) is an empty range.
R7  ``age`` = completed years at today: ``today.year - b.year`` minus one if today's
    (month, day) is before the birthday's (month, day). So someone born on 29 Feb turns a
    year older on 1 Mar in non-leap years (28 Feb 2025: born 2004-02-29 is 20, not 21).
    No birthday -> no age. (A future birthday would give a negative age; the generators
    never produce one.)
R8  ``average_order_value`` is ``float(total_spent) / orders_count`` and is compared with
    the bounds as doubles (like Elasticsearch does). Every other number (totals, sums,
    custom decimals) is compared exactly as a decimal: ``0.1 + 0.2 == 0.3``.
R9  A datetime's calendar day is its day in ``timezone``; an ISO datetime without an
    offset is read as UTC. Date fields (birthday, custom dates) are calendar days as
    given and are never shifted by the timezone.
R10 ``between`` + ignore_year with a null end: null ``from`` = 01-01, null ``to`` = 12-31
    (the generators always give both). ``from == to`` is that single day.
R11 ``orders`` conditions: ``where`` absent (or a part absent) = no constraint from it.
    ``statuses``/``stores``/``pipelines``: the order's value is in the list (an order
    without a pipeline fails ``pipelines``). ``product_ids``: at least one item's product
    is in the list. ``product_groups``: at least one item's product is in one of the
    listed groups or one of their descendants. ``created``: the order's calendar day (in
    ``timezone``) is within the between/relative range exactly like a datetime field.
    ``total``: ``from <= total <= to`` exactly. An EMPTY list in a where part is read as
    "no constraint" (the generators never produce one).
    ``count``: the number of matching orders is within [min, max] (null = open); ``sum``:
    the exact sum of the matching orders' totals (0 when none) is within [from, to].
R12 The group's ``block`` is not used for evaluation: the condition's field decides.
    A group with no conditions: ``all`` -> true, ``any`` -> false (vacuous truth).
    A rule with no groups matches everyone, whatever its ``match``.
R13 ``store`` (segment store) keeps only customers whose ``store`` equals it exactly.
R14 ``relative`` + ignore_year with ``from_days > to_days`` is invalid (ValueError); the
    span is not otherwise checked here.
R15 A ``product_groups`` condition (``in``) matches a group and all its descendants on
    both sides: include [tea] matches a customer who bought only pu-erh; exclude [tea]
    rejects that customer. (Since the derived list already holds every ancestor, this is
    the same as testing the listed ids themselves.)
R16 ``segments`` (block ``segments``, CONTRACT 6.2) is the customer's membership as
    STORED now: the customer dict's ``segments`` list of codes (absent/empty = a member
    of nothing), not re-derived from the other segments' rules. ``in`` reads it like any
    list field (R5): include = a member of at least one, exclude = a member of none. Only
    ``in`` is allowed. Whether the codes exist is not the evaluator's business.
R17 Explain (CONTRACT 6.3, ``explain_customer``): a condition's truth is its own, a
    group's is its contribution (after ``negate``), the rule's includes the ``store``.
    A condition's value is what the customer has: the profile value (R1-R9; ``age`` in
    completed years), and for ``orders`` the number (count) or exact sum of the orders
    matching ``where`` -- 0 when none.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

__all__ = [
    "FIELD_TYPES",
    "customer_profile",
    "explain_customer",
    "field_type",
    "make_world",
    "matching_ids",
]

KEYWORD = "keyword"
KEYWORDS = "keywords"  # list of keywords
NUMBER = "number"
DATE = "date"
DATETIME = "datetime"
BOOLEAN = "boolean"
ORDERS = "orders"
SEGMENTS = "segments"  # codes of other segments (R16)

# code -> (block, type); custom.<code> fields are added from the custom-field list.
FIELD_TYPES: dict[str, tuple[str, str]] = {
    "type": ("customer", KEYWORD),
    "first_name": ("customer", KEYWORD),
    "last_name": ("customer", KEYWORD),
    "email": ("customer", KEYWORD),
    "email_domain": ("customer", KEYWORD),
    "phone": ("customer", KEYWORD),
    "sex": ("customer", KEYWORD),
    "birthday": ("customer", DATE),
    "age": ("customer", NUMBER),
    "city": ("customer", KEYWORD),
    "country": ("customer", KEYWORD),
    "store": ("customer", KEYWORD),
    "source": ("customer", KEYWORD),
    "manager": ("customer", KEYWORD),
    "tags": ("customer", KEYWORDS),
    "vip": ("customer", BOOLEAN),
    "created_at": ("customer", DATETIME),
    "orders_count": ("orders", NUMBER),
    "total_spent": ("orders", NUMBER),
    "average_order_value": ("orders", NUMBER),
    "first_order_at": ("orders", DATETIME),
    "last_order_at": ("orders", DATETIME),
    "order_statuses": ("orders", KEYWORDS),
    "orders": ("orders", ORDERS),
    "products": ("products", KEYWORDS),
    "product_groups": ("products", KEYWORDS),
    "email_subscribed": ("communications", BOOLEAN),
    "sms_subscribed": ("communications", BOOLEAN),
    "last_email_opened_at": ("communications", DATETIME),
    "segments": ("segments", SEGMENTS),
}

CUSTOM_TYPES = {
    "string": KEYWORD,
    "integer": NUMBER,
    "decimal": NUMBER,
    "date": DATE,
    "boolean": BOOLEAN,
}

_PLAIN_KEYWORDS = ("type", "first_name", "last_name", "email", "phone", "sex", "city",
                   "country", "store", "source", "manager")


def field_type(code: str, custom_fields: list[dict]) -> str:
    """The value type of a catalogue field code (ValueError for an unknown code)."""
    if code.startswith("custom."):
        for cf in custom_fields:
            if "custom." + cf["code"] == code:
                return CUSTOM_TYPES[cf["type"]]
        raise ValueError(f"unknown custom field {code!r}")
    if code not in FIELD_TYPES:
        raise ValueError(f"unknown field {code!r}")
    return FIELD_TYPES[code][1]


# --------------------------------------------------------------------------- the world


class _World:
    """Everything a condition needs besides the customer: catalogue, clock, timezone."""

    def __init__(self, *, orders, products, product_groups, custom_fields, today, timezone):
        self.today: dt.date = today
        self.tz = ZoneInfo(timezone)
        self.custom_fields = custom_fields
        self.parent = {g["id"]: g.get("parent_id") for g in product_groups}
        self.product_groups = {p["id"]: list(p.get("groups") or []) for p in products}
        self.orders_of: dict[str, list[dict]] = {}
        for order in orders:
            self.orders_of.setdefault(order["customer_id"], []).append(order)

    def ancestors_and_self(self, group_id: str) -> set[str]:
        seen: set[str] = set()
        current: str | None = group_id
        while current is not None and current not in seen:
            seen.add(current)
            current = self.parent.get(current)
        return seen

    def descendants_and_self(self, group_ids) -> set[str]:
        wanted = set(group_ids)
        return {g for g in self.parent if self.ancestors_and_self(g) & wanted} | wanted

    def groups_of_product(self, product_id: str) -> set[str]:
        """The product's groups with all their ancestors."""
        result: set[str] = set()
        for g in self.product_groups.get(product_id, []):
            result |= self.ancestors_and_self(g)
        return result

    def local_day(self, value: dt.datetime) -> dt.date:
        return value.astimezone(self.tz).date()


# ------------------------------------------------------------------------ value parsing


def _parse_datetime(raw: Any) -> dt.datetime | None:
    if raw is None:
        return None
    if isinstance(raw, dt.datetime):
        value = raw
    else:
        value = dt.datetime.fromisoformat(str(raw))
    if value.tzinfo is None:  # R9
        value = value.replace(tzinfo=dt.UTC)
    return value


def _parse_date(raw: Any) -> dt.date | None:
    if raw is None:
        return None
    if isinstance(raw, dt.date):
        return raw
    return dt.date.fromisoformat(str(raw))


def _parse_number(raw: Any) -> Decimal | None:
    if raw is None or isinstance(raw, bool):
        return None
    return Decimal(str(raw))


def _parse_bool(raw: Any) -> bool | None:
    return raw if isinstance(raw, bool) else None


def _email_domain(email: Any) -> str | None:
    if not isinstance(email, str) or "@" not in email:
        return None
    domain = email.rsplit("@", 1)[1].lower()
    return domain or None


def _age(birthday: dt.date | None, today: dt.date) -> Decimal | None:
    if birthday is None:
        return None
    years = today.year - birthday.year
    if (today.month, today.day) < (birthday.month, birthday.day):
        years -= 1
    return Decimal(years)


# --------------------------------------------------------------------------- profile


def customer_profile(customer: dict, world: _World) -> dict[str, Any]:
    """Field code -> value (None / empty frozenset = no value) for one customer."""
    p: dict[str, Any] = {code: customer.get(code) for code in _PLAIN_KEYWORDS}
    p["email_domain"] = _email_domain(customer.get("email"))
    p["tags"] = frozenset(customer.get("tags") or [])
    p["segments"] = frozenset(customer.get("segments") or [])  # R16: stored membership
    p["birthday"] = _parse_date(customer.get("birthday"))
    p["age"] = _age(p["birthday"], world.today)
    p["created_at"] = _parse_datetime(customer.get("created_at"))
    p["last_email_opened_at"] = _parse_datetime(customer.get("last_email_opened_at"))
    for code in ("vip", "email_subscribed", "sms_subscribed"):
        p[code] = _parse_bool(customer.get(code))
    p.update(_order_aggregates(world.orders_of.get(customer["id"], []), world))
    p.update(_custom_values(customer.get("custom") or {}, world.custom_fields))
    return p


def _order_aggregates(orders: list[dict], world: _World) -> dict[str, Any]:
    total = sum((Decimal(str(o["total"])) for o in orders if o.get("total") is not None),
                Decimal(0))
    instants = [_parse_datetime(o.get("created_at")) for o in orders]
    instants = [i for i in instants if i is not None]
    products = {item["product_id"] for o in orders for item in (o.get("items") or [])}
    groups: set[str] = set()
    for product_id in products:
        groups |= world.groups_of_product(product_id)
    return {
        "orders": orders,
        "orders_count": Decimal(len(orders)),
        "total_spent": total,
        "average_order_value": float(total) / len(orders) if orders else None,  # R8
        "first_order_at": min(instants) if instants else None,
        "last_order_at": max(instants) if instants else None,
        "order_statuses": frozenset(o["status"] for o in orders if o.get("status") is not None),
        "products": frozenset(products),
        "product_groups": frozenset(groups),
    }


def _custom_values(custom: dict, custom_fields: list[dict]) -> dict[str, Any]:
    parse: dict[str, Callable[[Any], Any]] = {
        "string": lambda v: v,
        "integer": _parse_number,
        "decimal": _parse_number,
        "date": _parse_date,
        "boolean": _parse_bool,
    }
    return {"custom." + cf["code"]: parse[cf["type"]](custom.get(cf["code"]))
            for cf in custom_fields}


def _has_value(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, frozenset):
        return bool(value)
    return True


# ----------------------------------------------------------------------- the operators


def _op_in(cond: dict, value: Any, ftype: str, world: _World) -> bool:
    include = list(cond.get("include") or [])
    exclude = list(cond.get("exclude") or [])
    if cond["field"] == "product_groups":  # R15: a group stands for its whole subtree
        include = sorted(world.descendants_and_self(include)) if include else []
        exclude = sorted(world.descendants_and_self(exclude)) if exclude else []
    values = value if isinstance(value, frozenset) else (
        frozenset() if value is None else frozenset([value]))
    if include and not (values & set(include)):
        return False
    return not (values & set(exclude))


def _num_bound(bound: Any, like: Any) -> Any:
    if bound is None:
        return None
    return float(bound) if isinstance(like, float) else Decimal(str(bound))


def _within(value: Any, low: Any, high: Any) -> bool:
    """low <= value <= high, a None end being open."""
    if low is not None and value < low:
        return False
    return high is None or value <= high


def _md(text: str) -> tuple[int, int]:
    month, day = text.split("-")
    return int(month), int(day)


def _md_within(md: tuple[int, int], low: tuple[int, int], high: tuple[int, int]) -> bool:
    if low <= high:
        return low <= md <= high
    return md >= low or md <= high  # wraps the new year


def _day_of(value: Any, ftype: str, world: _World) -> dt.date:
    return world.local_day(value) if ftype == DATETIME else value


def _op_between(cond: dict, value: Any, ftype: str, world: _World) -> bool:
    if cond.get("ignore_year") and ftype != DATE:
        raise ValueError(f"ignore_year on a {ftype} field")
    if value is None:
        return False
    if ftype == NUMBER:
        return _within(value, _num_bound(cond.get("from"), value),
                       _num_bound(cond.get("to"), value))
    if cond.get("ignore_year"):
        low = _md(cond["from"]) if cond.get("from") else (1, 1)  # R10
        high = _md(cond["to"]) if cond.get("to") else (12, 31)
        return _md_within((value.month, value.day), low, high)
    return _within(_day_of(value, ftype, world), _parse_date(cond.get("from")),
                   _parse_date(cond.get("to")))


def _relative_range(cond: dict, today: dt.date) -> tuple[dt.date | None, dt.date | None]:
    low = None if cond.get("from_days") is None else today + dt.timedelta(days=cond["from_days"])
    high = None if cond.get("to_days") is None else today + dt.timedelta(days=cond["to_days"])
    return low, high


def _op_relative(cond: dict, value: Any, ftype: str, world: _World) -> bool:
    low, high = _relative_range(cond, world.today)
    if cond.get("ignore_year") and (ftype != DATE or low is None or high is None or low > high):
        raise ValueError("relative+ignore_year needs a date field and from_days <= to_days")
    if value is None:
        return False
    if cond.get("ignore_year"):
        return _md_within((value.month, value.day), (low.month, low.day),
                          (high.month, high.day))
    return _within(_day_of(value, ftype, world), low, high)


def _op_is(cond: dict, value: Any, ftype: str, world: _World) -> bool:
    if ftype != BOOLEAN:
        raise ValueError(f"is on a {ftype} field")
    return value is not None and value == cond["value"]


def _order_matches(order: dict, where: dict, world: _World) -> bool:
    for key, attribute in (("statuses", "status"), ("stores", "store"),
                           ("pipelines", "pipeline")):
        if where.get(key) and order.get(attribute) not in where[key]:
            return False
    bought = {item["product_id"] for item in (order.get("items") or [])}
    if where.get("product_ids") and not bought & set(where["product_ids"]):
        return False
    if where.get("product_groups"):
        wanted = world.descendants_and_self(where["product_groups"])
        if not any(set(world.product_groups.get(p, [])) & wanted for p in bought):
            return False
    if where.get("created") is not None:
        created = where["created"]
        op = {"between": _op_between, "relative": _op_relative}[created["op"]]
        if not op(created, _parse_datetime(order.get("created_at")), DATETIME, world):
            return False
    if where.get("total") is not None:
        total = _parse_number(order.get("total"))
        if total is None or not _within(total, _parse_number(where["total"].get("from")),
                                        _parse_number(where["total"].get("to"))):
            return False
    return True


def _selected_orders(cond: dict, orders: list[dict], world: _World) -> list[dict]:
    where = cond.get("where") or {}
    return [o for o in orders if _order_matches(o, where, world)]


def _op_count(cond: dict, value: Any, ftype: str, world: _World) -> bool:
    if ftype != ORDERS:
        raise ValueError("count on a non-orders field")
    count = len(_selected_orders(cond, value, world))
    return _within(count, cond.get("min"), cond.get("max"))


def _op_sum(cond: dict, value: Any, ftype: str, world: _World) -> bool:
    if ftype != ORDERS:
        raise ValueError("sum on a non-orders field")
    total = sum((Decimal(str(o["total"])) for o in _selected_orders(cond, value, world)
                 if o.get("total") is not None), Decimal(0))
    return _within(total, _parse_number(cond.get("from")), _parse_number(cond.get("to")))


def _op_exists(cond: dict, value: Any, ftype: str, world: _World) -> bool:
    return _has_value(value)


def _op_missing(cond: dict, value: Any, ftype: str, world: _World) -> bool:
    return not _has_value(value)


_OPERATORS: dict[str, Callable[[dict, Any, str, _World], bool]] = {
    "in": _op_in,
    "exists": _op_exists,
    "missing": _op_missing,
    "between": _op_between,
    "relative": _op_relative,
    "is": _op_is,
    "count": _op_count,
    "sum": _op_sum,
}

_ALLOWED = {
    KEYWORD: {"in", "exists", "missing"},
    KEYWORDS: {"in", "exists", "missing"},
    NUMBER: {"between", "exists", "missing"},
    DATE: {"between", "relative", "exists", "missing"},
    DATETIME: {"between", "relative", "exists", "missing"},
    BOOLEAN: {"is", "exists", "missing"},
    ORDERS: {"count", "sum"},
    SEGMENTS: {"in"},
}


# ---------------------------------------------------------------------- rule structure


def _condition_matches(cond: dict, profile: dict, world: _World) -> bool:
    ftype = field_type(cond["field"], world.custom_fields)
    if cond["op"] not in _ALLOWED[ftype]:
        raise ValueError(f"operator {cond['op']!r} not allowed on {cond['field']!r}")
    return _OPERATORS[cond["op"]](cond, profile[cond["field"]], ftype, world)


def _group_matches(group: dict, profile: dict, world: _World) -> bool:
    results = [_condition_matches(c, profile, world) for c in group.get("conditions") or []]
    matched = all(results) if group.get("match", "all") == "all" else any(results)
    return not matched if group.get("negate") else matched


def _rule_matches(rule: dict, profile: dict, world: _World) -> bool:
    groups = rule.get("groups") or []
    if not groups:
        return True  # R12
    results = [_group_matches(g, profile, world) for g in groups]
    return all(results) if rule.get("match", "all") == "all" else any(results)


def matching_ids(rule: dict, *, customers: list[dict], orders: list[dict],
                 products: list[dict], product_groups: list[dict], custom_fields: list[dict],
                 today: dt.date, timezone: str = "UTC", store: str | None = None) -> set[str]:
    """The ids of the customers the rule selects, computed one customer at a time."""
    world = _World(orders=orders, products=products, product_groups=product_groups,
                   custom_fields=custom_fields, today=today, timezone=timezone)
    matched: set[str] = set()
    for customer in customers:
        if store is not None and customer.get("store") != store:
            continue
        if _rule_matches(rule, customer_profile(customer, world), world):
            matched.add(customer["id"])
    return matched


def make_world(*, orders: list[dict], products: list[dict], product_groups: list[dict],
               custom_fields: list[dict], today: dt.date, timezone: str = "UTC") -> _World:
    """A world for customer_profile (used by tests and generators to inspect values)."""
    return _World(orders=orders, products=products, product_groups=product_groups,
                  custom_fields=custom_fields, today=today, timezone=timezone)


# ----------------------------------------------------------------------------- explain


def _condition_value(cond: dict, profile: dict, world: _World) -> Any:
    """R17: what the customer has for the condition's field."""
    value = profile[cond["field"]]
    if cond["field"] != "orders":
        return value
    selected = _selected_orders(cond, value, world)
    if cond["op"] == "count":
        return len(selected)
    return sum((Decimal(str(o["total"])) for o in selected if o.get("total") is not None),
               Decimal(0))


def explain_customer(rule: dict, customer_id: str, *, customers: list[dict], orders: list[dict],
                     products: list[dict], product_groups: list[dict],
                     custom_fields: list[dict], today: dt.date, timezone: str = "UTC",
                     store: str | None = None) -> dict:
    """{"matches", "groups": [{"matches", "conditions": [{"matches", "value"}]}]} (R17)."""
    world = _World(orders=orders, products=products, product_groups=product_groups,
                   custom_fields=custom_fields, today=today, timezone=timezone)
    customer = next(c for c in customers if c["id"] == customer_id)
    profile = customer_profile(customer, world)
    groups = [{"matches": _group_matches(g, profile, world),
               "conditions": [{"matches": _condition_matches(c, profile, world),
                               "value": _condition_value(c, profile, world)}
                              for c in g.get("conditions") or []]}
              for g in rule.get("groups") or []]
    in_store = store is None or customer.get("store") == store
    return {"matches": in_store and _rule_matches(rule, profile, world), "groups": groups}
