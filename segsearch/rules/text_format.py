"""A rule -> its text form (the inverse of text.parse; README "Rules as text").

The rule is brought to canonical form first, so ``parse(format_rule(r)) == canonical(r)``
for every valid rule. Fields are written by label when the label reads back as the same
field, values bare when they read back unchanged, else quoted (JSON string syntax).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .canonical import canonical
from .fields import FieldDef
from .text import FieldNames, terminal_re

INDENT = "  "
WHERE_NAMES = {"statuses": "status", "stores": "store", "pipelines": "pipeline",
               "product_ids": "product", "product_groups": "product group"}


def format_rule(rule: Any, fields: Mapping[str, FieldDef]) -> str:
    """The text of `rule` (raises RuleError when the rule is not valid)."""
    valid = canonical(rule, fields)
    writer = _Writer(FieldNames(fields))
    lines = [f"{valid['match'].upper()} OF"]
    for group in valid["groups"]:
        negate = "NOT " if group["negate"] else ""
        lines.append(f"{negate}{group['block']} {group['match'].upper()} (")
        lines.extend(INDENT + writer.condition(c) for c in group["conditions"])
        lines.append(")")
    return "\n".join(lines) + "\n"


class _Writer:
    def __init__(self, names: FieldNames) -> None:
        self.names = names
        self.field_re = terminal_re("FIELD")
        self.value_re = terminal_re("VALUE")

    def name(self, code: str) -> str:
        fdef = self.names.fields[code]
        for candidate in (fdef.label, fdef.code):
            if (candidate.isprintable() and self.field_re.fullmatch(candidate)
                    and self.names.resolve(candidate) is fdef):
                return candidate
        return json.dumps(code, ensure_ascii=False)

    def value(self, value: str) -> str:
        if value.isprintable() and self.value_re.fullmatch(value):
            return value
        return json.dumps(value, ensure_ascii=False)

    def values(self, values: list[str]) -> str:
        return ", ".join(self.value(v) for v in values)

    def condition(self, cond: dict) -> str:
        return f"{self.name(cond['field'])} {self.predicate(cond)}"

    def predicate(self, cond: dict) -> str:
        op = cond["op"]
        if op == "in":
            return self.included(cond["include"], cond["exclude"])
        if op == "exists":
            return "is filled in"
        if op == "missing":
            return "is empty"
        if op == "is":
            return "is yes" if cond["value"] else "is no"
        if op in ("count", "sum"):
            keys = ("min", "max") if op == "count" else ("from", "to")
            ends = _range(cond[keys[0]], cond[keys[1]], "count" if op == "count" else "number")
            return f"{op} {ends}{self.where(cond['where'])}"
        return self.ranged(cond)

    def included(self, include: list[str], exclude: list[str]) -> str:
        if not include:
            return f"is not one of {self.values(exclude)}"
        text = f"is one of {self.values(include)}"
        return f"{text} but not {self.values(exclude)}" if exclude else text

    def ranged(self, cond: dict) -> str:
        if cond["op"] == "relative":
            text = _range(cond["from_days"], cond["to_days"], "days")
            return text + (" ignoring the year" if cond.get("ignore_year") else "")
        # Month-days (ignore_year) say so by their form: MM-DD.
        kind = "date" if "ignore_year" in cond else "number"
        return _range(cond["from"], cond["to"], kind)

    def where(self, where: Mapping) -> str:
        parts = [f"{WHERE_NAMES[key]} is one of {self.values(where[key])}"
                 for key in WHERE_NAMES if key in where]
        created = where.get("created")
        if created is not None:
            if created["op"] == "relative":
                parts.append("created " + _range(created["from_days"], created["to_days"], "days"))
            else:
                parts.append("created " + _range(created["from"], created["to"], "date"))
        if "total" in where:
            parts.append("total " + _range(where["total"]["from"], where["total"]["to"], "number"))
        return " where " + " and ".join(parts) if parts else ""


# Words for the open ends of a range, by kind of value.
_OPEN = {"number": ("at least", "at most"), "count": ("at least", "at most"),
         "date": ("on or after", "on or before"), "days": ("on or after", "on or before")}


def _range(low: Any, high: Any, kind: str) -> str:
    """`between a and b`, `at least a`, ...; `kind`: number, count, date or days."""
    if low is None and high is None:
        # "any day" marks a relative range, which has no other sign when both ends are open.
        return "between any day and any day" if kind == "days" else "between any and any"
    if low is None:
        return f"{_OPEN[kind][1]} {_end(high, kind)}"
    if high is None:
        return f"{_OPEN[kind][0]} {_end(low, kind)}"
    if kind == "count" and low == high:
        return f"exactly {low}"
    return f"between {_end(low, kind)} and {_end(high, kind)}"


def _end(value: Any, kind: str) -> str:
    if kind == "days":
        return "today" if value == 0 else f"{value:+d}d"
    if isinstance(value, float):
        return repr(value)
    return str(value)
