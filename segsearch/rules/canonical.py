"""The canonical form of a rule: what `validate_rule` returns, with every default spelled out.

Two rules that mean the same by construction compare equal in canonical form, and the text
form converts to and from exactly this form (``parse(format(rule)) == canonical(rule)``):

* the rule's `match`, each group's `match` and `negate` are present (defaults "all", false);
* an `in` condition has both `include` and `exclude` (an absent list is []);
* a between/relative condition on a date or datetime field has `ignore_year` (default false);
  the other ends (`from`, `to`, `from_days`, `to_days`, `min`, `max`) are present, null when open;
* an orders condition has `where` ({} when absent); inside it a list part that is empty is
  dropped (it narrows nothing, like an absent part) and `created` carries no
  `ignore_year: false` (order dates are instants: the year always counts);
* everything else is as given (value lists keep their order and duplicates).

It is idempotent, and ``validate_rule(canonical(r)) == canonical(r)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .fields import FieldDef
from .validation import validate_rule

DATE_TYPES = ("date", "datetime")
RANGE_OPS = ("between", "relative")


def canonical(rule: Any, fields: Mapping[str, FieldDef]) -> dict:
    """The canonical form of `rule`; raises RuleError when it is not valid."""
    valid = validate_rule(rule, fields)
    return {
        "match": valid["match"],
        "groups": [{**group, "conditions": [_condition(c, fields) for c in group["conditions"]]}
                   for group in valid["groups"]],
    }


def _condition(cond: dict, fields: Mapping[str, FieldDef]) -> dict:
    out = dict(cond)
    if cond["op"] in RANGE_OPS and fields[cond["field"]].type in DATE_TYPES:
        out.setdefault("ignore_year", False)
    if "where" in cond:
        out["where"] = _where(cond["where"])
    return out


def _where(where: Mapping) -> dict:
    out = {key: value for key, value in where.items() if value != []}
    if "created" in out:
        out["created"] = {k: v for k, v in out["created"].items()
                          if not (k == "ignore_year" and v is False)}
    return out
