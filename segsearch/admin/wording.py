"""The admin's words: validation messages in a marketer's words, and numbers with counted
nouns ("1 segment", "1 204 customers"; pure functions: the templates get them through the
blueprint's context processor, views and tests import them directly).

The API names problems by dotted path in the contract's terms (`rule.groups.1.conditions.0.to:
must be on or after 'from'`); the admin shows the same problems next to the field, and where
a place has to be named, as "Block 2 (Customer), criterion 1 (Birthday)". Paths stay the
keys (the editor places each message by its path); only the words change.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from segsearch.rules.fields import FieldDef

BLOCK_LABELS = {"customer": "Customer", "orders": "Orders", "products": "Products",
                "communications": "Communications", "segments": "Segments"}
FORM_LABELS = {"code": "Symbolic code", "name": "Name", "description": "Description",
               "type": "Type", "active": "Active", "user_group": "User group", "store": "Store",
               "starts_at": "Starts at", "expires_at": "Expires at", "members": "Imported list",
               "rule": "Filters", "rule_text": "Filters (text)"}
OPERAND_LABELS = {"from": "start", "to": "end", "from_days": "first day", "to_days": "last day",
                  "min": "minimum", "max": "maximum", "include": "values", "exclude": "values",
                  "value": "value", "field": "field", "op": "condition", "ignore_year": "ignore year",
                  "where": "order filter"}
WHERE_LABELS = {"statuses": "the status", "stores": "the store", "pipelines": "the pipeline",
                "product_ids": "the product", "product_groups": "the product group",
                "created": "the date", "total": "the total"}

# (pattern over the message, what the marketer reads). First match wins.
MESSAGES: tuple[tuple[str, str], ...] = (
    (r"must be on or after 'from'", "The end must be on or after the start."),
    (r"must be greater than or equal to 'from_days'", "The last day must not come before the first day."),
    (r"must be greater than or equal to 'from'", "The upper bound must not be below the lower bound."),
    (r"must be greater than or equal to 'min'", "The maximum must not be below the minimum."),
    (r"give at least one value to include or exclude", "Add at least one value to include or exclude."),
    (r"must be MM-DD when ignore_year is true",
     "Write the day without a year, as day.month (25.07) or month-day (07-25)."),
    (r"is not a real month-day", "There is no such day in the calendar."),
    (r"must be a date YYYY-MM-DD", "Pick a date."),
    (r"is not a real day", "There is no such day in the calendar."),
    (r"the span must be under a year", "The window of days must be shorter than a year."),
    (r"must be an integer", "Enter a whole number."),
    (r"must be a number", "Enter a number."),
    (r"must be 0 or more", "Enter 0 or more."),
    (r"must have at most 2 decimals", "Use at most two decimals."),
    (r"only date fields can ignore the year", "Only dates (not date and time) can ignore the year."),
    (r"^Must match \^\[a-z0-9\]",
     "Use lowercase Latin letters, digits, “-” and “_” (up to 64), starting with a letter or a digit."),
    (r"^Must not be blank\.", "Fill this in."),
    (r"^Missing data for required field\.", "Fill this in."),
    (r"^Already taken\.", "Another segment already has this code."),
    (r"must be between (-?\d+) and (-?\d+)", r"Enter a number from \1 to \2."),
    (r"^Unknown field\.?$", "This field is not known (was it removed?)."),
    (r"^unknown segment '(.*)'$", r"There is no segment “\1”."),
    (r"^segment '(.*)' would make a cycle: (.*)$",
     r"Segment “\1” would make a cycle: \2 (a segment cannot depend on itself)."),
)


def say(message: str) -> str:
    """One validation message in plain words (others, already worded, are kept as they are)."""
    for pattern, words in MESSAGES:
        match = re.search(pattern, message)
        if match:
            return match.expand(words)
    return message


def place(path: str, rule: Any, fields: Mapping[str, FieldDef]) -> str:
    """Where a dotted path points, in words: "Block 2 (Customer), criterion 1 (Birthday), end"."""
    parts = path.split(".")
    if parts[0] != "rule":
        return FORM_LABELS.get(parts[0], parts[0].replace("_", " ").capitalize())
    if len(parts) < 3 or parts[1] != "groups" or not parts[2].isdigit():
        return "Filters"
    gi = int(parts[2])
    groups = rule.get("groups") if isinstance(rule, dict) else None
    group = groups[gi] if isinstance(groups, list) and gi < len(groups) else {}
    block = group.get("block") if isinstance(group, dict) else None
    words = f"Block {gi + 1}" + (f" ({BLOCK_LABELS[block]})" if block in BLOCK_LABELS else "")
    if len(parts) >= 5 and parts[3] == "conditions" and parts[4].isdigit():
        ci = int(parts[4])
        conds = group.get("conditions") if isinstance(group, dict) else None
        cond = conds[ci] if isinstance(conds, list) and ci < len(conds) else {}
        fdef = fields.get(str(cond.get("field"))) if isinstance(cond, dict) else None
        words += f", criterion {ci + 1}" + (f" ({fdef.label})" if fdef else "")
        rest = [p for p in parts[5:] if not p.isdigit()]
        if rest and rest[0] == "where":
            words += ", only orders where"
            rest = rest[1:]
            if rest:
                words += " " + WHERE_LABELS.get(rest[0], rest[0].replace("_", " "))
                rest = rest[1:]
        if rest:
            words += ", " + " ".join(OPERAND_LABELS.get(p, p.replace("_", " ")) for p in rest)
    return words


def worded(errors: Mapping[str, Any]) -> dict[str, list[str]]:
    """{path: [messages]} with each message in plain words (the paths are kept)."""
    return {path: [say(str(m)) for m in (msgs if isinstance(msgs, list) else [msgs])]
            for path, msgs in errors.items()}


# -- counts -------------------------------------------------------------------------
def fmt_int(value: Any) -> str:
    """1234567 -> '1 234 567' (thin grouping, like a CRM's counters); '—' for no number."""
    try:
        return f"{int(value):,}".replace(",", "\u202f")
    except (TypeError, ValueError):
        return "—"


def noun(count: Any, singular: str, plural_form: str | None = None) -> str:
    """The word that goes with `count`: noun(1, "segment") -> "segment", else "segments".

    Also for verbs that agree with a count: noun(n, "matches", "match").
    """
    try:
        one = int(count) == 1
    except (TypeError, ValueError):
        one = False
    if one:
        return singular
    return plural_form if plural_form is not None else singular + "s"


def plural(count: Any, singular: str, plural_form: str | None = None) -> str:
    """The count and its noun: plural(1, "segment") -> "1 segment", plural(2, "entry",
    "entries") -> "2 entries"."""
    return f"{fmt_int(count)} {noun(count, singular, plural_form)}"
