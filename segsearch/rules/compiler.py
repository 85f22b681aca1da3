"""Compile a validated rule into an Elasticsearch query. Pure: rule in, dict out.

No clock, no I/O: `today` (the calendar day of the evaluation in `timezone`) is an
argument. The node has no scripting, so everything is a plain query over fields the feed
derives at index time (``*_md``, ``orders.total_minor``, the customer aggregates).

Invariants:
  * AND -> bool.filter; OR -> bool.should + minimum_should_match 1 (always set, because
    beside a filter clause a should clause would otherwise become optional); NOT ->
    bool.must_not. Only `_bool` builds bool queries, so these hold everywhere.
  * A group's `negate` is applied in exactly one place: `_group`.
  * Operators dispatch through OPERATORS (op -> function), `between`/`relative` further
    through a table by field type. An operator or type missing from a table is a KeyError,
    never a silently dropped clause (which would widen an AND segment).
  * "Missing value" semantics are explicit: a range/term never matches a customer without
    the field, so upper bounds on counts and sums are written as NOT(at least max+1),
    which keeps customers with no (matching) orders.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from .fields import FieldDef
from .validation import RuleError

MATCH_ALL: dict[str, dict] = {"match_all": {}}  # compared against, never returned (callers may mutate)


@dataclass(frozen=True)
class _Ctx:
    today: date
    tz: ZoneInfo


# --- query building blocks ---------------------------------------------------------------


def _bool(
    *, filter: Sequence[dict] = (), should: Sequence[dict] = (), must_not: Sequence[dict] = ()
) -> dict:
    """The only bool builder: a should always comes with minimum_should_match 1.

    x AND match_all is x, and a bool of one AND/OR clause is that clause: simplifying
    both keeps the queries readable without changing what matches.
    """
    filter = [q for q in filter if q != MATCH_ALL]
    if len(filter) + len(should) == 1 and not must_not:
        return (filter or should)[0]
    body: dict[str, Any] = {}
    if filter:
        body["filter"] = filter
    if should:
        body["should"] = list(should)
        body["minimum_should_match"] = 1
    if must_not:
        body["must_not"] = list(must_not)
    return {"bool": body} if body else {"match_all": {}}


def _not(query: dict) -> dict:
    return {"bool": {"must_not": [query]}}


def _range(path: str, **bounds: Any) -> dict | None:
    """A range query with the non-null bounds, or None when there is no bound at all."""
    given = {k: v for k, v in bounds.items() if v is not None}
    return {"range": {path: given}} if given else None


def _exists(path: str) -> dict:
    return {"exists": {"field": path}}


def _bounded(path: str, **bounds: Any) -> dict:
    # "between" with both ends open still needs a value to compare: it means "has one".
    return _range(path, **bounds) or _exists(path)


def _shift(today: date, days: int | None) -> date | None:
    return None if days is None else today + timedelta(days=days)


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def _parse(day: str | None) -> date | None:
    return None if day is None else date.fromisoformat(day)


def _day_start(day: date | None, tz: ZoneInfo) -> str | None:
    """The first instant of `day` in `tz`, as ISO 8601 with its offset.

    Computed here, not with ES date math, so DST is zoneinfo's: on a day whose midnight
    is skipped, fold=0 maps 00:00 to the instant the day actually starts.
    """
    if day is None:
        return None
    start = datetime.combine(day, time.min, tzinfo=tz)
    return start.astimezone(UTC).astimezone(tz).isoformat()  # via UTC: normalise a gap


# --- per-type ranges ---------------------------------------------------------------------


def _days_range(fdef: FieldDef, first: date | None, last: date | None, ctx: _Ctx) -> dict:
    """Values whose calendar day lies in [first, last] (either end may be open)."""
    if fdef.type == "datetime":
        return _datetime_days(fdef.es_path, first, last, ctx)
    return _bounded(fdef.es_path, gte=_iso(first), lte=_iso(last))


def _datetime_days(path: str, first: date | None, last: date | None, ctx: _Ctx) -> dict:
    # Half-open [first 00:00, last+1 00:00) local: exact whatever the stored precision.
    end = None if last is None else last + timedelta(days=1)
    return _bounded(path, gte=_day_start(first, ctx.tz), lt=_day_start(end, ctx.tz))


def _month_day(value: str | date) -> int:
    if isinstance(value, date):
        return value.month * 100 + value.day
    return int(value[:2]) * 100 + int(value[3:])


def _month_day_range(path: str, lo: int, hi: int) -> dict:
    """(month, day) in [lo, hi]; lo > hi wraps the new year (12-02..01-03)."""
    if lo <= hi:
        return {"range": {path: {"gte": lo, "lte": hi}}}
    return _bool(should=[{"range": {path: {"gte": lo}}}, {"range": {path: {"lte": hi}}}])


def _years_before(today: date, years: int) -> date:
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # 29 Feb in a common year
        return date(today.year - years, 2, 28)


def _age_range(fdef: FieldDef, lo: int | None, hi: int | None, ctx: _Ctx) -> dict:
    # age >= lo  <=>  born on or before today-lo years; age <= hi  <=>  born after
    # today-(hi+1) years. Completed years, computed at `today`.
    latest = None if lo is None else _years_before(ctx.today, lo)
    earliest = None if hi is None else _years_before(ctx.today, hi + 1)
    return _bounded(fdef.es_path, gt=_iso(earliest), lte=_iso(latest))


# --- operators ---------------------------------------------------------------------------

Compiler = Callable[[dict, FieldDef, _Ctx], dict]


def _in(cond: dict, fdef: FieldDef, ctx: _Ctx) -> dict:
    # must_not for exclude: a customer without any value passes an exclude-only condition.
    include, exclude = cond.get("include") or [], cond.get("exclude") or []
    if not include and not exclude:  # would match everyone: refuse, never widen
        raise RuleError({"include": ["give at least one value to include or exclude"]})
    return _bool(
        filter=[{"terms": {fdef.path: include}}] if include else [],
        must_not=[{"terms": {fdef.path: exclude}}] if exclude else [],
    )


def _exists_op(cond: dict, fdef: FieldDef, ctx: _Ctx) -> dict:
    return _exists(fdef.es_path)


def _missing(cond: dict, fdef: FieldDef, ctx: _Ctx) -> dict:
    return _not(_exists(fdef.es_path))


def _is(cond: dict, fdef: FieldDef, ctx: _Ctx) -> dict:
    return {"term": {fdef.path: cond["value"]}}


def _number_between(cond: dict, fdef: FieldDef, ctx: _Ctx) -> dict:
    return _bounded(fdef.es_path, gte=cond.get("from"), lte=cond.get("to"))


def _age_between(cond: dict, fdef: FieldDef, ctx: _Ctx) -> dict:
    return _age_range(fdef, cond.get("from"), cond.get("to"), ctx)


def _date_between(cond: dict, fdef: FieldDef, ctx: _Ctx) -> dict:
    if cond.get("ignore_year"):
        return _month_day_range(fdef.es_md_path, _month_day(cond["from"]), _month_day(cond["to"]))
    return _days_range(fdef, _parse(cond.get("from")), _parse(cond.get("to")), ctx)


def _date_relative(cond: dict, fdef: FieldDef, ctx: _Ctx) -> dict:
    first = _shift(ctx.today, cond.get("from_days"))
    last = _shift(ctx.today, cond.get("to_days"))
    if cond.get("ignore_year"):  # validated: both ends given, span under a year
        assert first is not None and last is not None
        return _month_day_range(fdef.es_md_path, _month_day(first), _month_day(last))
    return _days_range(fdef, first, last, ctx)


BETWEEN: dict[str, Compiler] = {
    "number": _number_between,
    "integer": _number_between,
    "age": _age_between,
    "date": _date_between,
    "datetime": _date_between,
}
RELATIVE: dict[str, Compiler] = {"date": _date_relative, "datetime": _date_relative}


def _between(cond: dict, fdef: FieldDef, ctx: _Ctx) -> dict:
    return BETWEEN[fdef.type](cond, fdef, ctx)


def _relative(cond: dict, fdef: FieldDef, ctx: _Ctx) -> dict:
    return RELATIVE[fdef.type](cond, fdef, ctx)


# --- orders: count and sum over the nested orders ----------------------------------------

ORDER_TERMS = {
    "statuses": "orders.status",
    "stores": "orders.store",
    "pipelines": "orders.pipeline",
    "product_ids": "orders.product_ids",
    "product_groups": "orders.product_groups",
}
# `where.created` compiles like a datetime condition on this field.
ORDER_DATE = FieldDef(
    code="orders.created_at",
    label="Order created",
    block="orders",
    type="datetime",
    operators=("between", "relative"),
    path="orders.created_at",
)


def _where(where: Mapping, ctx: _Ctx) -> list[dict]:
    """Filters on one nested order; [] when nothing narrows the orders."""
    clauses: list[dict | None] = [{"terms": {ORDER_TERMS[k]: where[k]}} for k in ORDER_TERMS if where.get(k)]
    total = where.get("total") or {}
    clauses.append(_range("orders.total", gte=total.get("from"), lte=total.get("to")))
    clauses.append(_created(where.get("created"), ctx))
    return [c for c in clauses if c is not None]


def _created(created: Mapping | None, ctx: _Ctx) -> dict | None:
    # Unlike a condition, an open-ended `created` in `where` narrows nothing.
    ends = ("from", "to") if created and created["op"] == "between" else ("from_days", "to_days")
    if not created or all(created.get(end) is None for end in ends):
        return None
    return OPERATORS[created["op"]](dict(created), ORDER_DATE, ctx)


def _nested_count(where: list[dict]) -> dict:
    """Scores a customer by the number of its orders matching `where` (no match: absent)."""
    # Each matching order scores exactly 1; score_mode sum makes the score their number.
    ones = {"constant_score": {"filter": _bool(filter=where), "boost": 1}}
    return {"nested": {"path": "orders", "score_mode": "sum", "query": ones}}


def _nested_count_at_least(where: list[dict], k: int) -> dict:
    """At least k nested orders match `where` (k >= 1)."""
    if k == 1:
        return {"nested": {"path": "orders", "query": _bool(filter=where)}}
    # orders_count counts every order (feed.derive.aggregates), so k matching orders need
    # orders_count >= k: a cheap customer-level filter the block join then leads with,
    # skipping the orders of every customer it rules out (at 1M customers, "3 paid orders
    # in a year" previews in 51 ms instead of 85, bench/profiles/README.md).
    return _bool(filter=[{"range": {"orders_count": {"gte": k}}},
                         {"function_score": {"query": _nested_count(where), "min_score": k}}])


def _nested_sum(where: list[dict]) -> dict:
    """Scores a customer by the sum, in cents, of its orders matching `where`."""
    # Scores are float32: exact while the sum stays under 2**24 cents (167,772.16).
    cents = {
        "function_score": {
            "query": _bool(filter=where),
            "functions": [{"field_value_factor": {"field": "orders.total_minor", "missing": 0}}],
            "boost_mode": "replace",
        }
    }
    return {"nested": {"path": "orders", "score_mode": "sum", "query": cents}}


def _nested_sum_at_least(where: list[dict], minor: int) -> dict:
    """The matching orders' totals add up to at least `minor` cents (minor >= 1)."""
    # The sum of whole cents is compared with k - 0.5 so rounding never decides a tie.
    return {"function_score": {"query": _nested_sum(where), "min_score": minor - 0.5}}


def _spent_at_least(minor: int) -> dict:
    # total_spent is a double sum of 2-decimal totals: compare half a cent below the
    # bound so floating-point noise in the stored sum cannot flip the result.
    return {"range": {"total_spent": {"gte": float((Decimal(minor) - Decimal("0.5")) / 100)}}}


def _within(at_least: Callable[[int], dict], lo: int, hi: int | None) -> dict:
    """lo <= X <= hi for a non-negative X, given the query `at_least(k)` for X >= k."""
    return _bool(
        filter=[at_least(lo)] if lo >= 1 else [],
        must_not=[at_least(hi + 1)] if hi is not None else [],
    )


def _count(cond: dict, fdef: FieldDef, ctx: _Ctx) -> dict:
    where = _where(cond.get("where") or {}, ctx)
    if where:
        at_least = lambda k: _nested_count_at_least(where, k)  # noqa: E731
    else:
        at_least = lambda k: {"range": {"orders_count": {"gte": k}}}  # noqa: E731
    return _within(at_least, cond.get("min") or 0, cond.get("max"))


def _cents(amount: float | int | None, rounding: Callable[[Decimal], int]) -> int | None:
    return None if amount is None else rounding(Decimal(str(amount)) * 100)


def _sum(cond: dict, fdef: FieldDef, ctx: _Ctx) -> dict:
    where = _where(cond.get("where") or {}, ctx)
    if where:
        at_least = lambda k: _nested_sum_at_least(where, k)  # noqa: E731
    else:
        at_least = _spent_at_least
    lo = _cents(cond.get("from"), math.ceil) or 0
    return _within(at_least, lo, _cents(cond.get("to"), math.floor))


OPERATORS: dict[str, Compiler] = {
    "in": _in,
    "exists": _exists_op,
    "missing": _missing,
    "is": _is,
    "between": _between,
    "relative": _relative,
    "count": _count,
    "sum": _sum,
}


# --- groups and rules --------------------------------------------------------------------


def _field(fields: Mapping[str, FieldDef], code: str) -> FieldDef:
    # A stored rule may outlive a custom field: fail closed with the rule error type.
    if code not in fields:
        raise RuleError({"field": [f"unknown field {code!r}"]})
    return fields[code]


def _condition(cond: dict, fields: Mapping[str, FieldDef], ctx: _Ctx) -> dict:
    return OPERATORS[cond["op"]](cond, _field(fields, cond["field"]), ctx)


def _combine(match: str, parts: list[dict]) -> dict:
    return _bool(filter=parts) if match == "all" else _bool(should=parts)


def _group(group: dict, fields: Mapping[str, FieldDef], ctx: _Ctx) -> dict:
    parts = [_condition(c, fields, ctx) for c in group["conditions"]]
    query = _combine(group.get("match", "all"), parts)
    return _not(query) if group.get("negate") else query  # the one place negate is applied


def compile_group(
    group: dict, fields: Mapping[str, FieldDef], *, today: date, timezone: str = "UTC"
) -> dict:
    """The query for one validated group as it contributes to its rule (negate applied)."""
    return _group(group, fields, _Ctx(today, ZoneInfo(timezone)))


def compile_condition(
    cond: dict, fields: Mapping[str, FieldDef], *, today: date, timezone: str = "UTC"
) -> dict:
    """The query for one validated condition on its own (its own truth, no negate)."""
    return _condition(cond, fields, _Ctx(today, ZoneInfo(timezone)))


# The score of the value query of an `orders` condition is its count / its sum in cents.
VALUE_SCALE = {"count": 1, "sum": 100}


def compile_orders_value(cond: dict, *, today: date, timezone: str = "UTC") -> dict | None:
    """A query whose score is the value an `orders` condition compares: the number of the
    customer's orders matching `where` (op count) or their total in cents (op sum).

    None without `where` parts: the condition then compares the stored `orders_count` /
    `total_spent` (read them from the document). A customer with no matching order does
    not match the query at all: its value is 0.
    """
    where = _where(cond.get("where") or {}, _Ctx(today, ZoneInfo(timezone)))
    if not where:
        return None
    return _nested_count(where) if cond["op"] == "count" else _nested_sum(where)


def compile_rule(
    rule: dict,
    fields: Mapping[str, FieldDef],
    *,
    today: date,
    timezone: str = "UTC",
    store: str | None = None,
) -> dict:
    """The Elasticsearch query (the value for ``query=``) for a validated rule.

    `today` is the evaluation day in `timezone` (the caller's clock, not ours); `store`
    restricts the result to that store's customers. No groups matches every customer.
    """
    ctx = _Ctx(today, ZoneInfo(timezone))
    groups = [_group(g, fields, ctx) for g in rule["groups"]]
    query = _combine(rule.get("match", "all"), groups)  # no groups: match_all
    if store is None:
        return query
    return _bool(filter=[{"term": {"store": store}}, query])
