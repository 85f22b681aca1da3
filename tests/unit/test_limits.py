"""The limits table and the bounded JSON parser (pure)."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from marshmallow import ValidationError

from segsearch import bounded_json, limits


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def test_depth_is_counted_without_recursion():
    assert bounded_json.depth(1) == 0
    assert bounded_json.depth({"a": [1, {"b": []}]}) == 4
    assert bounded_json.loads(nested(limits.MAX_JSON_DEPTH)) is not None
    for levels in (limits.MAX_JSON_DEPTH + 1, 999, 5000, 200_000):
        with pytest.raises(bounded_json.TooDeep):
            bounded_json.loads(nested(levels))


def test_too_deep_is_a_value_error():
    # Cursor decoders catch ValueError: a deep cursor is then just an invalid one.
    assert issubclass(bounded_json.TooDeep, ValueError)


def test_non_finite_numbers_parse_for_the_field_to_refuse():
    assert bounded_json.loads('{"a": 1e400}')["a"] == float("inf")
    assert limits.custom_value_problem(float("inf")) is not None
    assert limits.custom_value_problem(float("nan")) is not None


@pytest.mark.parametrize("value,ok", [
    (2**63 - 1, True), (-(2**63), True), (2**63, False), (-(2**63) - 1, False),
    (1.5, True), ("x" * limits.MAX_KEYWORD_CHARS, True), ("x" * (limits.MAX_KEYWORD_CHARS + 1), False),
    (True, True), (None, True), ({"a": 1}, False), ([1], False),
])
def test_custom_values(value, ok):
    assert (limits.custom_value_problem(value) is None) is ok


@pytest.mark.parametrize("ident,ok", [
    ("c1", True), ("C-1.a_b:c@d", True), ("0" * 128, True), ("0" * 129, False), ("", False),
    ("=cmd", False), ("_bulk", False), ("-1", False), ("a\x00b", False), ("a\u202eb", False),
    ("é", False), ("a b", False), ("a/b", False), ("a\n", False),
])
def test_id_alphabet(ident, ok):
    assert limits.is_id(ident) is ok


def test_utc_conversion_stays_in_years_1_to_9999():
    plus_one = timezone(timedelta(hours=1))
    with pytest.raises(ValidationError):
        limits.to_utc(datetime(1, 1, 1, tzinfo=plus_one))
    with pytest.raises(ValidationError):
        limits.to_utc(datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-1))))
    assert limits.to_utc(datetime(1, 1, 1, 1, tzinfo=plus_one)).year == 1
    assert limits.to_utc(datetime(2024, 1, 1)).tzinfo is UTC


def test_days_keep_a_margin():
    assert limits.check_day(date(1, 1, 2)) == date(1, 1, 2)
    for day in (date(1, 1, 1), date(9999, 12, 31)):
        with pytest.raises(ValidationError):
            limits.check_day(day)
