"""Hypothesis strategies that make valid rules hard to write down as text.

`with_awkward_values(rules(...))` swaps some keyword values (of `in` conditions and of the
`where` lists of orders conditions) for strings that look like the text form's keywords,
numbers, dates, separators, quotes, comments or odd whitespace; `AWKWARD_LABELS` gives the
custom fields labels that collide with built-in names or keywords. Like strategies.py this
imports nothing from segsearch: the rules stay plain JSON.
"""

from __future__ import annotations

import copy

from hypothesis import strategies as st

__all__ = ["AWKWARD_LABELS", "NASTY_VALUES", "awkward_values", "segment_groups",
           "with_awkward_values"]

NASTY_VALUES = [
    "and", "but", "but not", "is", "between", "Is one of", "ALL", "NOT", "today", "any",
    "yes", "no", "where", "count", "12-02", "2025-07-25", "-90d", "1.5", "0", "..",
    "Moscow, Kazan", "a;b", "(x)", "#hash", "say \"hi\"", "back\\slash", " leading",
    "trailing ", "two  spaces", "tab\there", "line\nbreak", "Санкт-Петербург", "東京",
    "St. Petersburg", "Boat builder", "anna@mail.ru", "+79990001122", "Yandex.Direct",
    "x and y", "x but y", "a is b", "\u00a0nbsp", "zero\u200bwidth", "null", "\"", "'",
]
# Custom field labels that cannot (all) be written bare or that collide with other names.
AWKWARD_LABELS = {
    "married": "City",  # a built-in code: the code must be written instead
    "occupation": "Is employed",  # starts with a keyword
    "anniversary": "Дата свадьбы",
    "children": "Number of orders",  # another field's label: ambiguous
    "discount": "Discount (%)",
}
WHERE_LISTS = ("statuses", "stores", "pipelines", "product_ids", "product_groups")


def awkward_values() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(NASTY_VALUES), st.text(min_size=1, max_size=8))


_AWKWARD = awkward_values()  # built once: a fresh strategy per value is validated per draw


def _swap(draw, values: list[str]) -> list[str]:
    return [draw(_AWKWARD) if draw(st.booleans()) else v for v in values]


@st.composite
def with_awkward_values(draw, rules: st.SearchStrategy[dict]) -> dict:
    """A rule from `rules` with some of its keyword values replaced by awkward strings."""
    rule = copy.deepcopy(draw(rules))
    for group in rule["groups"]:
        for cond in group["conditions"]:
            for key in ("include", "exclude"):
                if key in cond:
                    cond[key] = _swap(draw, cond[key])
            where = cond.get("where") or {}
            for key in WHERE_LISTS:
                if key in where:
                    where[key] = _swap(draw, where[key])
    return rule


def segment_groups(codes: list[str]) -> st.SearchStrategy[dict]:
    """A group of the `segments` block (CONTRACT 6.2): membership of other segments."""
    some = st.lists(st.sampled_from(codes), max_size=2, unique=True)
    condition = st.tuples(some, some).filter(lambda p: p[0] or p[1]).map(
        lambda p: {"field": "segments", "op": "in", "include": p[0], "exclude": p[1]})
    return st.fixed_dictionaries({
        "block": st.just("segments"), "match": st.sampled_from(["all", "any"]),
        "negate": st.booleans(), "conditions": st.lists(condition, min_size=1, max_size=2)})
