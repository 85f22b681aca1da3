"""The compiler: whole-body case tables (tests/cases/compiler/*.json) plus properties."""

from __future__ import annotations

import copy
import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from segsearch.rules.compiler import BETWEEN, OPERATORS, RELATIVE, compile_group, compile_rule
from segsearch.rules.fields import OPERATORS_BY_TYPE, catalogue
from segsearch.rules.validation import RuleError, validate_rule

CASES_DIR = Path(__file__).resolve().parents[2] / "cases" / "compiler"
CUSTOM = [
    {"code": "color", "label": "Colour", "type": "string"},
    {"code": "flag", "label": "Flag", "type": "boolean"},
    {"code": "level", "label": "Level", "type": "integer"},
    {"code": "score", "label": "Score", "type": "decimal"},
    {"code": "anniversary", "label": "Anniversary", "type": "date"},
]
FIELDS = catalogue(CUSTOM)


def _load_cases() -> list:
    cases = []
    for path in sorted(CASES_DIR.glob("*.json")):
        table = json.loads(path.read_text())
        for case in table["cases"]:
            case.setdefault("block", table.get("block", "customer"))
            cases.append(pytest.param(case, id=f"{path.stem}: {case['name']}"))
    return cases


def _rule_of(case: dict) -> dict:
    if "rule" in case:
        return case["rule"]
    group = {"block": case["block"], "conditions": [case["condition"]]}
    return {"match": "all", "groups": [group]}


def _compile_case(case: dict) -> dict:
    # Validate first: every case rule must be a valid rule, and the compiler only ever
    # sees normalised rules.
    rule = validate_rule(_rule_of(case), FIELDS)
    return compile_rule(
        rule,
        FIELDS,
        today=date.fromisoformat(case.get("today", "2024-06-15")),
        timezone=case.get("timezone", "UTC"),
        store=case.get("store"),
    )


@pytest.mark.parametrize("case", _load_cases())
def test_case_table(case: dict) -> None:
    assert _compile_case(case) == case["expected"]


def _walk(node: object):
    """Every dict inside a query body."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


@pytest.mark.parametrize("case", _load_cases())
def test_no_scripts_and_should_always_has_msm(case: dict) -> None:
    for node in _walk(_compile_case(case)):
        assert not {"script", "script_score", "runtime_mappings"} & node.keys()
        if "should" in node:
            assert node["minimum_should_match"] == 1


def test_every_operator_of_every_type_compiles() -> None:
    for type_, operators in OPERATORS_BY_TYPE.items():
        for op in operators:
            assert op in OPERATORS
            if op == "between":
                assert type_ in BETWEEN
            if op == "relative":
                assert type_ in RELATIVE


def test_compile_is_pure() -> None:
    rule = validate_rule(
        {
            "groups": [
                {
                    "block": "orders",
                    "negate": True,
                    "conditions": [
                        {
                            "field": "orders",
                            "op": "count",
                            "min": 3,
                            "where": {"statuses": ["paid"]},
                        }
                    ],
                }
            ]
        },
        FIELDS,
    )
    before = copy.deepcopy(rule)
    first = compile_rule(rule, FIELDS, today=date(2024, 1, 1))
    assert compile_rule(rule, FIELDS, today=date(2024, 1, 1)) == first
    assert rule == before


def test_compile_group_applies_negate() -> None:
    group = {
        "block": "customer",
        "match": "all",
        "negate": True,
        "conditions": [{"field": "vip", "op": "is", "value": True}],
    }
    query = compile_group(group, FIELDS, today=date(2024, 1, 1), timezone="UTC")
    assert query == {"bool": {"must_not": [{"term": {"vip": True}}]}}


def test_unknown_field_at_compile_time_fails_closed() -> None:
    # e.g. a stored rule naming a custom field that has since been removed
    rule = {
        "match": "all",
        "groups": [
            {
                "block": "customer",
                "match": "all",
                "negate": False,
                "conditions": [{"field": "custom.gone", "op": "exists"}],
            }
        ],
    }
    with pytest.raises(RuleError):
        compile_rule(rule, FIELDS, today=date(2024, 1, 1))


def test_in_without_values_never_widens() -> None:
    group = {"block": "customer", "conditions": [{"field": "city", "op": "in"}]}
    with pytest.raises(RuleError):
        compile_group(group, FIELDS, today=date(2024, 1, 1))


# --- properties: evaluate the emitted ranges in Python ------------------------------------


def _in_range(value: object, bounds: dict) -> bool:
    ops = {
        "gte": lambda a, b: a >= b,
        "gt": lambda a, b: a > b,
        "lte": lambda a, b: a <= b,
        "lt": lambda a, b: a < b,
    }
    return all(ops[op](value, bound) for op, bound in bounds.items())


def _matches(query: dict, path: str, value: object) -> bool:
    if "range" in query:
        return _in_range(value, query["range"][path])
    return any(_matches(q, path, value) for q in query["bool"]["should"])


def _condition_query(condition: dict, today: date) -> dict:
    group = {"block": "customer", "conditions": [condition]}
    valid = validate_rule({"groups": [group]}, FIELDS)["groups"][0]
    return compile_group(valid, FIELDS, today=today)


def _completed_years(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


days = st.dates(min_value=date(1950, 1, 1), max_value=date(2030, 12, 31))


@given(today=days, born=days, low=st.integers(0, 80), span=st.integers(0, 20))
def test_age_range_is_completed_years(today: date, born: date, low: int, span: int) -> None:
    condition = {"field": "age", "op": "between", "from": low, "to": low + span}
    query = _condition_query(condition, today)
    expected = low <= _completed_years(born, today) <= low + span
    assert _matches(query, "birthday", born.isoformat()) == expected


@given(today=days, born=days, start=st.integers(-30, 30), span=st.integers(0, 364))
def test_relative_ignore_year_window(today: date, born: date, start: int, span: int) -> None:
    condition = {
        "field": "birthday",
        "op": "relative",
        "from_days": start,
        "to_days": start + span,
        "ignore_year": True,
    }
    query = _condition_query(condition, today)
    first, last = today + timedelta(days=start), today + timedelta(days=start + span)
    lo, hi, pair = (first.month, first.day), (last.month, last.day), (born.month, born.day)
    # The contract's definition: (month, day) pairs compare, wrapping the new year.
    expected = lo <= pair <= hi if lo <= hi else (pair >= lo or pair <= hi)
    assert _matches(query, "birthday_md", born.month * 100 + born.day) == expected
    if pair != (2, 29):  # and for real days that is "some day of the window"
        window = {(d.month, d.day) for d in (first + timedelta(days=n) for n in range(span + 1))}
        assert expected == (pair in window)
