"""Numbers and counted nouns as the admin writes them ("1 segment", "1 204 customers").

Pure functions (no Flask): the templates get them through the blueprint's context
processor, views and tests import them directly.
"""
from __future__ import annotations

from typing import Any


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
