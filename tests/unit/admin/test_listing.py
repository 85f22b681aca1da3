"""The segment list page's pure helpers: counted nouns, filter errors, sort toggles, pager."""
from __future__ import annotations

import pytest

from segsearch.admin import listing
from segsearch.admin.wording import fmt_int, noun, plural


@pytest.mark.parametrize("count,expected", [
    (0, "0 segments"), (1, "1 segment"), (2, "2 segments"), (1234, "1\u202f234 segments"),
    (None, "— segments"),
])
def test_plural_segments(count, expected):
    assert plural(count, "segment") == expected


def test_plural_with_an_irregular_form_and_verbs():
    assert plural(1, "imported entry", "imported entries") == "1 imported entry"
    assert plural(3, "imported entry", "imported entries") == "3 imported entries"
    assert noun(1, "matches", "match") == "matches" and noun(7, "matches", "match") == "match"
    assert fmt_int("12") == "12" and fmt_int("x") == "—"


def test_filter_errors_say_it_in_the_marketers_words():
    errors = listing.filter_errors({
        "min_customers": ["Not a valid integer."],
        "max_customers": ["Must not be below min_customers."],
        "created_from": ["Not a valid date or datetime."],
        "status": ["Must be one of: pending, forming, formed, failed."],
        "cursor": ["Not a valid cursor."], "trail": ["anything"]})
    assert errors == [
        "Customers from: enter a whole number, like 100.",
        "Customers to: must not be below “Customers from”.",
        "Created from: enter a date like 2025-06-30.",
        "Status: Must be one of: pending, forming, formed, failed.",
        "Page link: the link is out of date: showing the first page.",
        "Page link: the link is out of date: showing the first page."]
    assert not any("min_customers" in e or "cursor" in e for e in errors)


@pytest.mark.parametrize("current,key,expected", [
    ("-created_at", "name", "name"),                 # names start A-Z
    ("-created_at", "customers_count", "-customers_count"),  # numbers start largest
    ("name", "name", "-name"), ("-name", "name", "name"),    # a click toggles
    ("-customers_count", "customers_count", "customers_count"),
    ("-created_at", "created_at", "created_at"),
])
def test_next_sort_toggles(current, key, expected):
    assert listing.next_sort(current, key) == expected


def test_sort_state_is_aria_sort():
    assert listing.sort_state("-created_at", "created_at") == "descending"
    assert listing.sort_state("name", "name") == "ascending"
    assert listing.sort_state("name", "code") is None


def test_pager_first_middle_and_last_page():
    first = listing.pager(60, 25, 25, None, [], "c2")
    assert first == {"number": 1, "pages": 3, "first": 1, "last": 25, "previous": None,
                     "next": {"cursor": "c2", "trail": None}}
    second = listing.pager(60, 25, 25, "c2", [], "c3")
    assert (second["number"], second["first"], second["last"]) == (2, 26, 50)
    assert second["previous"] == {}  # back to the first page: no cursor at all
    assert second["next"] == {"cursor": "c3", "trail": "c2"}
    third = listing.pager(60, 25, 10, "c3", ["c2"], None)
    assert (third["number"], third["first"], third["last"], third["next"]) == (3, 51, 60, None)
    assert third["previous"] == {"cursor": "c2", "trail": None}
    fourth = listing.pager(100, 25, 25, "c4", ["c2", "c3"], None)
    assert fourth["previous"] == {"cursor": "c3", "trail": "c2"}


def test_pager_of_an_empty_list_and_split_trail():
    assert listing.pager(0, 25, 0, None, [], None)["pages"] == 1
    assert listing.pager(0, 25, 0, None, [], None)["first"] == 0
    assert listing.split_trail("a.b..c") == ["a", "b", "c"] and listing.split_trail("") == []
