"""The segment list page's pure parts: filter errors in a marketer's words, sort toggles
and the pager over the API's forward-only cursors.

The list itself comes from SegmentService.list (the API's GET /segments); these helpers
only turn its arguments and answer into what the page shows and links to.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# The list's query arguments, as the API names them (SegmentListArgs).
FILTERS = ("q", "type", "active", "status", "min_customers", "max_customers",
           "created_from", "created_to")
LABELS = {"q": "Search", "type": "Type", "active": "Activity", "status": "Status",
          "min_customers": "Customers from", "max_customers": "Customers to",
          "created_from": "Created from", "created_to": "Created to", "sort": "Sort",
          "cursor": "Page link", "trail": "Page link"}
# Marshmallow's messages that name a type or an internal key, said for a person.
PLAIN = {
    "Not a valid integer.": "enter a whole number, like 100.",
    "Must be greater than or equal to 0 and less than or equal to 2147483647.":
        "enter a number from 0 to 2 147 483 647.",
    "Must not be below min_customers.": "must not be below “Customers from”.",
    "Not a valid date or datetime.": "enter a date like 2025-06-30.",
    "Not a valid boolean.": "choose active or inactive.",
    "Not a valid cursor.": "the link is out of date: showing the first page.",
    "The cursor belongs to another sort.": "the link is out of date: showing the first page.",
}
# Columns people can sort by, and the direction of a first click: names A-Z, numbers
# and dates largest (newest) first.
SORTABLE = {"name": "asc", "code": "asc", "customers_count": "desc", "created_at": "desc",
            "last_formed_at": "desc"}


def filter_errors(errors: Mapping[str, Sequence[str]]) -> list[str]:
    """{"min_customers": ["Not a valid integer."]} -> ["Customers from: enter a whole number, like 100."]."""
    out = []
    for key, messages in errors.items():
        label = LABELS.get(key, key)
        for message in messages:
            plain = PLAIN.get(message, message)
            if key in ("cursor", "trail"):
                plain = PLAIN["Not a valid cursor."]
            out.append(f"{label}: {plain}")
    return out


def next_sort(current: str, key: str) -> str:
    """The sort a click on column `key` asks for: the other direction if it is the sort now."""
    if current == key:
        return f"-{key}"
    if current == f"-{key}":
        return key
    return key if SORTABLE.get(key, "asc") == "asc" else f"-{key}"


def sort_state(current: str, key: str) -> str | None:
    """"ascending" / "descending" when the list is sorted by `key` (aria-sort), else None."""
    if current.lstrip("-") != key:
        return None
    return "descending" if current.startswith("-") else "ascending"


def split_trail(text: str) -> list[str]:
    """The cursors of the pages before this one, from the `trail` argument ("c2.c3")."""
    return [part for part in text.split(".") if part]


def pager(total: int, page_size: int, shown: int, cursor: str | None, trail: list[str],
          next_cursor: str | None) -> dict[str, Any]:
    """Page number, range shown and the query arguments of the previous and next pages.

    The API's cursors only go forward, so each link carries the cursors of the pages
    before it (`trail`, base64url pieces joined by "."): "previous" pops one.
    """
    number = len(trail) + 2 if cursor else 1
    first = (number - 1) * page_size + 1 if shown else 0
    previous: dict[str, Any] | None = None
    if cursor:
        previous = {"cursor": trail[-1], "trail": ".".join(trail[:-1]) or None} if trail else {}
    following = None
    if next_cursor:
        following = {"cursor": next_cursor, "trail": ".".join([*trail, cursor]) if cursor else None}
    return {"number": number, "pages": max(1, -(-total // page_size)), "first": first,
            "last": first + shown - 1 if shown else 0, "previous": previous, "next": following}
