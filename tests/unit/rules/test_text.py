"""The text form of rules: case tables (tests/cases/text/*.json), error positions, and the
round trip parse(format(rule)) == canonical(rule) over generated rules of every operator."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segsearch.rules import fields as fields_module
from segsearch.rules import validation
from segsearch.rules.canonical import canonical
from segsearch.rules.fields import FieldDef, catalogue
from segsearch.rules.text import TextError, parse, rule_from_text
from segsearch.rules.text_format import format_rule
from segsearch.rules.validation import RuleError, validate_rule
from tests.oracle.awkward import AWKWARD_LABELS, segment_groups, with_awkward_values
from tests.oracle.strategies import CUSTOM_FIELDS, rules

CASES_DIR = Path(__file__).resolve().parents[2] / "cases" / "text"
# 2,000 by default: pure and quick (about 25 s on the shared CI machine).
ROUND_TRIPS = int(os.environ.get("SEGSEARCH_TEXT_ROUND_TRIPS", "2000"))


def _cases(*names: str) -> list:
    out = []
    for name in names:
        for case in json.loads((CASES_DIR / f"{name}.json").read_text())["cases"]:
            out.append(pytest.param(case, id=f"{name}: {case['name']}"))
    return out


def _fields(case: dict) -> dict:
    return catalogue(case.get("custom_fields", []))


@pytest.mark.parametrize("case", _cases("operators", "structure"))
def test_text_means_the_rule(case):
    fields = _fields(case)
    assert parse(case["text"], fields) == canonical(case["rule"], fields)


@pytest.mark.parametrize("case", _cases("operators", "structure"))
def test_rule_formats_as_written_and_back(case):
    fields = _fields(case)
    text = format_rule(case["rule"], fields)
    if "formatted" in case:
        assert text == case["formatted"]
    assert parse(text, fields) == canonical(case["rule"], fields)


@pytest.mark.parametrize("case", _cases("errors"))
def test_errors_name_line_column_and_what_was_expected(case):
    with pytest.raises(TextError) as info:
        parse(case["text"], _fields(case))
    err = info.value
    assert (err.line, err.column) == (case["line"], case["column"]), str(err)
    assert case["contains"] in err.message, str(err)
    assert str(err).startswith(f"line {case['line']}, column {case['column']}: ")


def test_syntax_errors_list_the_expected_tokens():
    with pytest.raises(TextError) as info:
        parse("customer (City is", catalogue())
    assert {"one", "not", "filled", "empty", "yes or no"} <= set(info.value.expected)


def test_every_validation_problem_is_located():
    text = "customer (\n  Age between 40 and 18\n  City is one of \"\"\n)"
    with pytest.raises(TextError) as info:
        parse(text, catalogue())
    assert len(info.value.problems) == 2
    assert info.value.problems[0].startswith("line 2, column 22:")
    assert info.value.problems[1].startswith("line 3, column 18:")


def test_format_refuses_an_invalid_rule():
    with pytest.raises(RuleError):
        format_rule({"groups": [{"block": "customer", "conditions": [{"field": "nope"}]}]},
                    catalogue())


# -- canonical form ------------------------------------------------------------------------

def test_canonical_fills_defaults_and_drops_what_narrows_nothing():
    rule = {"groups": [
        {"block": "customer", "conditions": [{"field": "created_at", "op": "relative",
                                              "from_days": -3}]},
        {"block": "orders", "conditions": [{"field": "orders", "op": "count", "min": 1, "where": {
            "statuses": [], "created": {"op": "between", "from": "2025-01-01",
                                        "ignore_year": False}}}]}]}
    assert canonical(rule, catalogue()) == {"match": "all", "groups": [
        {"block": "customer", "match": "all", "negate": False, "conditions": [
            {"field": "created_at", "op": "relative", "from_days": -3, "to_days": None,
             "ignore_year": False}]},
        {"block": "orders", "match": "all", "negate": False, "conditions": [
            {"field": "orders", "op": "count", "min": 1, "max": None, "where": {
                "created": {"op": "between", "from": "2025-01-01", "to": None}}}]}]}


# -- the round trip over generated rules -----------------------------------------------------

FIELDS = catalogue(CUSTOM_FIELDS)
AWKWARD_FIELDS = catalogue([{**cf, "label": AWKWARD_LABELS[cf["code"]]} for cf in CUSTOM_FIELDS])
# segment_codes: once the generators know the `segments` block (CONTRACT 6.2) they draw
# conditions on it too (they ignore the key before that).
RULES = rules({"orders": [], "custom_fields": CUSTOM_FIELDS,
               "segment_codes": ["vip-moscow", "churned", "b2b_2025"]})
CASES = st.one_of(
    st.tuples(st.just(FIELDS), RULES),
    st.tuples(st.just(FIELDS), with_awkward_values(RULES)),
    st.tuples(st.just(AWKWARD_FIELDS), with_awkward_values(RULES)),
)
def test_round_trip_parse_of_format_is_the_canonical_rule():
    ran = []

    @settings(max_examples=ROUND_TRIPS, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(CASES)
    def round_trip(case):
        fields, rule = case
        text = format_rule(rule, fields)
        expected = canonical(rule, fields)
        assert parse(text, fields) == expected, text
        assert format_rule(expected, fields) == text  # one text per canonical rule
        ran.append(1)

    round_trip()
    assert len(ran) >= ROUND_TRIPS  # the number the README and the closing note quote


@settings(max_examples=200, deadline=None, database=None)
@given(RULES)
def test_canonical_is_idempotent_and_valid(rule):
    once = canonical(rule, FIELDS)
    assert canonical(once, FIELDS) == once
    assert validate_rule(once, FIELDS) == once


# -- segment conditions (CONTRACT 6.2) -------------------------------------------------------

SEGMENTS_FIELD = FieldDef(code="segments", label="Segments", block="segments", type="segments",
                          operators=("in",), path="segments")


@pytest.fixture
def segment_catalogue(monkeypatch):
    """The catalogue with the `segments` block: the real one once it has it, else added here."""
    fields = catalogue(CUSTOM_FIELDS)
    if "segments" in fields and "segments" in fields_module.BLOCKS:
        return fields
    blocks = (*fields_module.BLOCKS, "segments")
    monkeypatch.setattr(fields_module, "BLOCKS", blocks)
    group = {**validation.GROUP._declared_fields}
    group["block"] = validation.fields.String(required=True,
                                              validate=validation.OneOf(blocks))
    monkeypatch.setattr(validation, "GROUP", validation._schema("Group", group))
    return {**fields, "segments": SEGMENTS_FIELD}


def test_segment_conditions_in_text(segment_catalogue):
    text = "segments ANY (\n  Segments is one of vip-moscow but not churned\n)"
    assert parse(text, segment_catalogue)["groups"] == [
        {"block": "segments", "match": "any", "negate": False, "conditions": [
            {"field": "segments", "op": "in", "include": ["vip-moscow"], "exclude": ["churned"]}]}]


@settings(max_examples=200, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rule=RULES, extra=segment_groups(["vip-moscow", "churned", "a_b", "x1"]))
def test_round_trip_with_segment_conditions(segment_catalogue, rule, extra):
    rule = {**rule, "groups": [*rule["groups"], extra]}
    text = format_rule(rule, segment_catalogue)
    assert parse(text, segment_catalogue) == canonical(rule, segment_catalogue)


def test_rule_from_text_records_positions():
    rule, positions = rule_from_text("customer (\n  City is one of Moscow, Kazan\n)", catalogue())
    assert rule["groups"][0]["conditions"][0]["include"] == ["Moscow", "Kazan"]
    assert positions["groups.0.conditions.0"] == (2, 3)
    assert positions["groups.0.conditions.0.include.1"] == (2, 26)


# -- hostile text: always a rule or a TextError, never anything else -------------------------

WORDS = ["ALL", "ANY", "OF", "NOT", "customer", "orders", "(", ")", ";", ",", "City", "Age",
         "Birthday", "Orders", "VIP", "Created", "is", "one", "of", "not", "but", "filled", "in",
         "empty", "yes", "between", "and", "at least", "on or after", "exactly", "..", "any",
         "day", "today", "-3d", "+3d", "12-02", "2025-02-30", "18", "1e999", "1.5", "count",
         "sum", "where", "status", "product group", "created", "total", "ignoring the year",
         '"x"', '"\\q"', '"', "#", "\n", "Moscow", "-", "99999999999999999999d", "9" * 5000]


@settings(max_examples=500, deadline=None, database=None)
@given(st.one_of(st.text(max_size=60), st.lists(st.sampled_from(WORDS), max_size=25).map(" ".join)))
def test_any_text_is_a_rule_or_a_located_error(text):
    try:
        rule = parse(text, FIELDS)
    except TextError as err:
        assert err.line >= 1 and err.column >= 1 and err.message
    else:
        assert canonical(rule, FIELDS) == rule
