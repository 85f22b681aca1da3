"""Rule validation: normalisation, and every error named by its exact path."""

from __future__ import annotations

import pytest

from segsearch.rules.fields import OPERATORS_BY_TYPE, catalogue
from segsearch.rules.validation import (
    OPERANDS_BY_OP,
    OPERANDS_BY_TYPE,
    RuleError,
    validate_rule,
)

FIELDS = catalogue(
    [
        {"code": "anniversary", "label": "Anniversary", "type": "date"},
        {"code": "level", "label": "Level", "type": "integer"},
    ]
)


def group(*conditions: object, block: str = "customer", **extra: object) -> dict:
    return {"block": block, "conditions": list(conditions), **extra}


def rule(*groups: object, **extra: object) -> dict:
    return {"groups": list(groups), **extra}


def errors_of(value: object) -> dict[str, list[str]]:
    with pytest.raises(RuleError) as exc:
        validate_rule(value, FIELDS)
    return exc.value.errors


# --- normalisation -----------------------------------------------------------------------


def test_defaults_are_filled() -> None:
    raw = rule(
        group({"field": "city", "op": "in", "exclude": ["Moscow"]}),
        group({"field": "orders", "op": "count", "min": 2}, block="orders"),
    )
    assert validate_rule(raw, FIELDS) == {
        "match": "all",
        "groups": [
            {
                "block": "customer",
                "match": "all",
                "negate": False,
                "conditions": [
                    {"field": "city", "op": "in", "include": [], "exclude": ["Moscow"]}
                ],
            },
            {
                "block": "orders",
                "match": "all",
                "negate": False,
                "conditions": [
                    {"field": "orders", "op": "count", "min": 2, "max": None, "where": {}}
                ],
            },
        ],
    }


def test_input_is_not_mutated() -> None:
    raw = rule(group({"field": "vip", "op": "is", "value": True}))
    validate_rule(raw, FIELDS)
    assert raw == {"groups": [{"block": "customer", "conditions": [{"field": "vip", "op": "is", "value": True}]}]}


def test_empty_groups_is_a_valid_rule() -> None:
    assert validate_rule({"match": "any", "groups": []}, FIELDS) == {"match": "any", "groups": []}


VALID_CONDITIONS = [
    ("customer", {"field": "birthday", "op": "between", "from": "02-29", "to": "03-01", "ignore_year": True}),
    ("customer", {"field": "birthday", "op": "between", "from": "12-02", "to": "01-03", "ignore_year": True}),
    ("customer", {"field": "birthday", "op": "relative", "from_days": 0, "to_days": 364, "ignore_year": True}),
    ("customer", {"field": "custom.anniversary", "op": "relative", "from_days": -3, "to_days": 3, "ignore_year": True}),
    ("customer", {"field": "birthday", "op": "between", "from": "2024-02-29", "to": "2024-02-29"}),
    ("customer", {"field": "created_at", "op": "relative", "from_days": None, "to_days": -30}),
    ("customer", {"field": "created_at", "op": "between", "from": "2024-01-01", "to": None, "ignore_year": False}),
    ("customer", {"field": "age", "op": "between", "from": 18, "to": None}),
    ("customer", {"field": "custom.level", "op": "between", "from": -5, "to": 5}),
    ("customer", {"field": "tags", "op": "in", "include": ["a"], "exclude": ["b"]}),
    ("customer", {"field": "age", "op": "missing"}),
    ("orders", {"field": "total_spent", "op": "between", "from": 0.5, "to": 1e3}),
    ("orders", {"field": "orders", "op": "count", "min": 0, "max": 0}),
    ("orders", {"field": "orders", "op": "sum", "from": 10.25, "to": None, "where": {
        "statuses": ["paid"], "stores": ["s1"], "pipelines": ["retail"], "product_ids": ["p1"],
        "product_groups": ["tea"], "created": {"op": "between", "from": "2024-01-01", "to": "2024-12-31"},
        "total": {"from": 0, "to": 99.99},
    }}),
    ("products", {"field": "product_groups", "op": "in", "include": ["tea"]}),
    ("communications", {"field": "email_subscribed", "op": "is", "value": False}),
]


@pytest.mark.parametrize(("block", "condition"), VALID_CONDITIONS)
def test_valid_conditions(block: str, condition: dict) -> None:
    normalised = validate_rule(rule(group(condition, block=block)), FIELDS)
    assert normalised["groups"][0]["conditions"][0].items() >= condition.items()


# --- errors, with their exact paths ------------------------------------------------------


def cond(c: dict, block: str = "customer") -> dict:
    """A rule whose group 1, condition 0 is `c` (group 0 is a valid filler)."""
    return rule(group({"field": "vip", "op": "is", "value": True}), group(c, block=block))


P = "groups.1.conditions.0"

INVALID = [
    # structure
    ("not an object", [], {"_schema": ["Invalid input type."]}),
    ("groups required", {"match": "all"}, {"groups": ["Missing data for required field."]}),
    ("bad match", rule(match="some"), {"match": ["Must be one of: all, any."]}),
    ("unknown rule key", rule(name="x"), {"name": ["Unknown field."]}),
    ("group not an object", rule("x"), {"groups.0": ["Invalid input type."]}),
    ("empty group", rule(group()), {"groups.0.conditions": ["a group needs at least one condition"]}),
    ("bad block", rule(group({"field": "vip", "op": "is", "value": True}, block="x")),
     {"groups.0.block": ["Must be one of: customer, orders, products, communications, segments."]}),
    ("negate must be a bool", rule(group({"field": "vip", "op": "is", "value": True}, negate="yes")),
     {"groups.0.negate": ["must be true or false"]}),
    ("unknown group key", rule(group({"field": "vip", "op": "is", "value": True}, title="t")),
     {"groups.0.title": ["Unknown field."]}),
    ("condition not an object", cond("vip"), {P: ["Invalid input type."]}),
    # catalogue
    ("unknown field", cond({"field": "shoe_size", "op": "exists"}), {f"{P}.field": ["unknown field 'shoe_size'"]}),
    ("missing field", cond({"op": "exists"}), {f"{P}.field": ["Missing data for required field."]}),
    ("unregistered custom field", cond({"field": "custom.nope", "op": "exists"}),
     {f"{P}.field": ["unknown field 'custom.nope'"]}),
    ("field of another block", cond({"field": "total_spent", "op": "exists"}),
     {f"{P}.field": ["field 'total_spent' belongs to block 'orders', not 'customer'"]}),
    ("operator not for the type", cond({"field": "city", "op": "between", "from": 1}),
     {f"{P}.op": ["operator 'between' is not allowed for keyword field 'city'; allowed: in, exists, missing"]}),
    ("missing operator", cond({"field": "city"}), {f"{P}.op": ["Missing data for required field."]}),
    # operands
    ("unknown operand", cond({"field": "city", "op": "exists", "value": 1}), {f"{P}.value": ["Unknown field."]}),
    ("in needs a value", cond({"field": "city", "op": "in", "include": [], "exclude": []}),
     {f"{P}.include": ["give at least one value to include or exclude"]}),
    ("in values are strings", cond({"field": "city", "op": "in", "include": ["a", 1]}),
     {f"{P}.include.1": ["Not a valid string."]}),
    ("is needs a value", cond({"field": "vip", "op": "is"}), {f"{P}.value": ["Missing data for required field."]}),
    ("is takes a bool, not 1", cond({"field": "vip", "op": "is", "value": 1}), {f"{P}.value": ["must be true or false"]}),
    ("bool is not an int", cond({"field": "custom.level", "op": "between", "from": True}),
     {f"{P}.from": ["must be an integer"]}),
    ("integer field takes no float", cond({"field": "custom.level", "op": "between", "from": 1.5}),
     {f"{P}.from": ["must be an integer"]}),
    ("number is not a string", cond({"field": "total_spent", "op": "between", "from": "10"}, "orders"),
     {f"{P}.from": ["must be a number"]}),
    ("number between from > to", cond({"field": "total_spent", "op": "between", "from": 10, "to": 5}, "orders"),
     {f"{P}.to": ["must be greater than or equal to 'from'"]}),
    ("date between from > to", cond({"field": "birthday", "op": "between", "from": "2024-02-02", "to": "2024-02-01"}),
     {f"{P}.to": ["must be on or after 'from'"]}),
    ("datetime between from > to", cond({"field": "created_at", "op": "between", "from": "2024-02-02", "to": "2024-02-01"}),
     {f"{P}.to": ["must be on or after 'from'"]}),
    ("not a real day", cond({"field": "birthday", "op": "between", "from": "2023-02-29"}),
     {f"{P}.from": ["is not a real day"]}),
    ("not a date", cond({"field": "birthday", "op": "between", "to": "20240101"}),
     {f"{P}.to": ["must be a date YYYY-MM-DD"]}),
    ("age is not negative", cond({"field": "age", "op": "between", "from": -1}),
     {f"{P}.from": ["must be between 0 and 150"]}),
    ("ignore_year takes MM-DD", cond({"field": "birthday", "op": "between", "from": "2024-01-01", "to": "02-01", "ignore_year": True}),
     {f"{P}.from": ["must be MM-DD when ignore_year is true"]}),
    ("02-30 is not a month-day", cond({"field": "birthday", "op": "between", "from": "02-30", "to": "03-01", "ignore_year": True}),
     {f"{P}.from": ["is not a real month-day"]}),
    ("13-01 is not a month-day", cond({"field": "birthday", "op": "between", "from": "01-01", "to": "13-01", "ignore_year": True}),
     {f"{P}.to": ["is not a real month-day"]}),
    ("ignore_year between needs both ends", cond({"field": "birthday", "op": "between", "from": "01-01", "ignore_year": True}),
     {f"{P}.to": ["Missing data for required field."]}),
    ("ignore_year only on date fields", cond({"field": "created_at", "op": "between", "from": "01-01", "to": "01-02", "ignore_year": True}),
     {f"{P}.from": ["must be a date YYYY-MM-DD"], f"{P}.to": ["must be a date YYYY-MM-DD"],
      f"{P}.ignore_year": ["only date fields can ignore the year"]}),
    ("ignore_year is a bool", cond({"field": "birthday", "op": "between", "from": "2024-01-01", "ignore_year": "yes"}),
     {f"{P}.ignore_year": ["must be true or false"]}),
    ("no ignore_year on numbers", cond({"field": "custom.level", "op": "between", "from": 1, "ignore_year": True}),
     {f"{P}.ignore_year": ["Unknown field."]}),
    ("relative from_days > to_days", cond({"field": "created_at", "op": "relative", "from_days": 5, "to_days": 1}),
     {f"{P}.to_days": ["must be greater than or equal to 'from_days'"]}),
    ("relative days are bounded", cond({"field": "created_at", "op": "relative", "from_days": -40000}),
     {f"{P}.from_days": ["must be between -36500 and 36500"]}),
    ("sum is bounded", cond({"field": "orders", "op": "sum", "from": 1e13}, "orders"),
     {f"{P}.from": ["is too large"]}),
    ("relative days are integers", cond({"field": "created_at", "op": "relative", "from_days": "1"}),
     {f"{P}.from_days": ["must be an integer"]}),
    ("relative ignore_year needs both ends", cond({"field": "birthday", "op": "relative", "from_days": 0, "ignore_year": True}),
     {f"{P}.to_days": ["Missing data for required field."]}),
    ("relative ignore_year ends may not be null", cond({"field": "birthday", "op": "relative", "from_days": None, "to_days": 3, "ignore_year": True}),
     {f"{P}.from_days": ["Field may not be null."]}),
    ("relative ignore_year under a year", cond({"field": "birthday", "op": "relative", "from_days": 0, "to_days": 365, "ignore_year": True}),
     {f"{P}.to_days": ["the span must be under a year (to_days - from_days <= 364)"]}),
    ("count min > max", cond({"field": "orders", "op": "count", "min": 3, "max": 2}, "orders"),
     {f"{P}.max": ["must be greater than or equal to 'min'"]}),
    ("count min negative", cond({"field": "orders", "op": "count", "min": -1}, "orders"),
     {f"{P}.min": ["must be 0 or more"]}),
    ("count min is not a bool", cond({"field": "orders", "op": "count", "min": True}, "orders"),
     {f"{P}.min": ["must be an integer"]}),
    ("sum has at most 2 decimals", cond({"field": "orders", "op": "sum", "from": 10.005}, "orders"),
     {f"{P}.from": ["must have at most 2 decimals"]}),
    ("sum is not negative", cond({"field": "orders", "op": "sum", "to": -1}, "orders"),
     {f"{P}.to": ["must be 0 or more"]}),
    ("sum from > to", cond({"field": "orders", "op": "sum", "from": 10, "to": 9.99}, "orders"),
     {f"{P}.to": ["must be greater than or equal to 'from'"]}),
    ("where: unknown key", cond({"field": "orders", "op": "count", "min": 1, "where": {"colour": ["red"]}}, "orders"),
     {f"{P}.where.colour": ["Unknown field."]}),
    ("where: lists of strings", cond({"field": "orders", "op": "count", "min": 1, "where": {"statuses": "paid"}}, "orders"),
     {f"{P}.where.statuses": ["Not a valid list."]}),
    ("where: created op", cond({"field": "orders", "op": "count", "min": 1, "where": {"created": {"op": "after"}}}, "orders"),
     {f"{P}.where.created.op": ["must be one of: between, relative"]}),
    ("where: created operands", cond({"field": "orders", "op": "count", "min": 1, "where": {"created": {"op": "relative", "from_days": 3, "to_days": 1}}}, "orders"),
     {f"{P}.where.created.to_days": ["must be greater than or equal to 'from_days'"]}),
    ("where: created between days", cond({"field": "orders", "op": "sum", "from": 1, "where": {"created": {"op": "between", "from": "2024-13-01"}}}, "orders"),
     {f"{P}.where.created.from": ["is not a real day"]}),
    ("where: total from > to", cond({"field": "orders", "op": "count", "min": 1, "where": {"total": {"from": 5, "to": 1}}}, "orders"),
     {f"{P}.where.total.to": ["must be greater than or equal to 'from'"]}),
    ("where: total unknown key", cond({"field": "orders", "op": "count", "min": 1, "where": {"total": {"min": 5}}}, "orders"),
     {f"{P}.where.total.min": ["Unknown field."]}),
]


@pytest.mark.parametrize(("value", "expected"), [pytest.param(v, e, id=n) for n, v, e in INVALID])
def test_invalid_rules_name_every_bad_path(value: object, expected: dict) -> None:
    assert errors_of(value) == expected


def test_all_errors_are_collected_across_groups() -> None:
    raw = {
        "match": "both",
        "groups": [
            group({"field": "birthday", "op": "between", "from": "2024-02-02", "to": "2024-02-01"}),
            group(
                {"field": "vip", "op": "is", "value": "true"},
                {"field": "nope", "op": "in"},
                {"field": "orders", "op": "count", "min": 1},
            ),
            group(block="orders"),
        ],
    }
    assert errors_of(raw) == {
        "match": ["Must be one of: all, any."],
        "groups.0.conditions.0.to": ["must be on or after 'from'"],
        "groups.1.conditions.0.value": ["must be true or false"],
        "groups.1.conditions.1.field": ["unknown field 'nope'"],
        "groups.1.conditions.2.field": ["field 'orders' belongs to block 'orders', not 'customer'"],
        "groups.2.conditions": ["a group needs at least one condition"],
    }


def test_every_operator_of_every_type_has_an_operand_schema() -> None:
    for type_, operators in OPERATORS_BY_TYPE.items():
        for op in operators:
            assert op in OPERANDS_BY_OP or (op, type_) in OPERANDS_BY_TYPE
