"""Segment schemas without I/O: the catalogue is passed through the schema context."""
from __future__ import annotations

import pytest
from marshmallow import ValidationError

from segsearch.errors import flatten
from segsearch.rules.fields import catalogue
from segsearch.segments.schemas import SegmentCreate, SegmentListArgs, SegmentPatch, encode_cursor

CONTEXT = {"fields": lambda: catalogue([{"code": "married", "label": "Married", "type": "boolean"}])}
RULE = {"match": "all", "groups": [
    {"block": "customer", "conditions": [{"field": "city", "op": "in", "include": ["Moscow"]}]}]}


def create(body: dict) -> dict:
    return SegmentCreate(context=CONTEXT).load(body)


def errors_of(schema, body: dict) -> dict:
    with pytest.raises(ValidationError) as err:
        schema.load(body)
    return flatten(err.value.messages)


def test_create_defaults_and_normalised_rule():
    data = create({"code": "vip-moscow", "name": "VIP from Moscow", "rule": RULE})
    assert data["type"] == "dynamic" and data["active"] is True
    assert data["available_in_analytics"] is False and data["description"] == ""
    assert data["user_group"] is None and data["store"] is None
    assert data["starts_at"] is None and data["expires_at"] is None and data["members"] is None
    group = data["rule"]["groups"][0]
    assert group["match"] == "all" and group["negate"] is False  # defaults filled


def test_custom_fields_come_from_the_context():
    rule = {"match": "all", "groups": [{"block": "customer", "conditions": [
        {"field": "custom.married", "op": "is", "value": True}]}]}
    assert create({"code": "married", "name": "Married", "rule": rule})["rule"]


@pytest.mark.parametrize("code", ["Upper", "-dash", "", "a" * 65, "white space", "preview", "ü"])
def test_bad_codes(code):
    errors = errors_of(SegmentCreate(context=CONTEXT), {"code": code, "name": "n", "rule": RULE})
    assert set(errors) == {"code"}


@pytest.mark.parametrize("code", ["a", "0", "vip_moscow-2", "a" * 64])
def test_good_codes(code):
    assert create({"code": code, "name": "n", "rule": RULE})["code"] == code


def test_every_bad_field_is_named_with_rule_paths():
    bad_rule = {"match": "all", "groups": [
        {"block": "customer", "conditions": [{"field": "nope", "op": "in"}]},
        {"block": "customer", "conditions": [
            {"field": "birthday", "op": "between", "from": "2020-05-01", "to": "2020-02-30"}]}]}
    errors = errors_of(SegmentCreate(context=CONTEXT), {
        "code": "x", "name": "  ", "rule": bad_rule, "active": "yes", "type": "sometimes",
        "starts_at": "2025-01-02T00:00:00Z", "expires_at": "2025-01-01T00:00:00Z", "extra": 1})
    assert {"name", "active", "type", "expires_at", "extra",
            "rule.groups.0.conditions.0.field", "rule.groups.1.conditions.0.to"} <= set(errors)


def test_rule_that_is_not_an_object_is_named_rule():
    errors = errors_of(SegmentCreate(context=CONTEXT), {"code": "x", "name": "n", "rule": "x"})
    assert set(errors) == {"rule"}


def test_dynamic_needs_a_rule_and_no_members():
    errors = errors_of(SegmentCreate(context=CONTEXT), {"code": "x", "name": "n"})
    assert errors == {"rule": ["A dynamic segment needs a rule."]}
    errors = errors_of(SegmentCreate(context=CONTEXT),
                       {"code": "x", "name": "n", "rule": RULE, "members": {"emails": ["a@b.io"]}})
    assert set(errors) == {"members"}


def test_static_has_a_rule_or_members_not_both_nor_neither():
    assert create({"code": "x", "name": "n", "type": "static", "rule": RULE})["rule"]
    errors = errors_of(SegmentCreate(context=CONTEXT), {"code": "x", "name": "n", "type": "static"})
    assert set(errors) == {"rule"}
    errors = errors_of(SegmentCreate(context=CONTEXT), {
        "code": "x", "name": "n", "type": "static", "rule": RULE, "members": {"customer_ids": ["1"]}})
    assert set(errors) == {"members"}


def test_members_are_deduplicated_and_checked():
    data = create({"code": "x", "name": "n", "type": "static", "members": {
        "emails": ["A@Example.com", "a@example.com", "b@example.com"], "customer_ids": ["1", "1", "2"]}})
    assert data["members"] == {"emails": ["a@example.com", "b@example.com"], "customer_ids": ["1", "2"]}
    errors = errors_of(SegmentCreate(context=CONTEXT), {"code": "x", "name": "n", "type": "static",
                                                        "members": {"emails": ["nope", "a@b.io"]}})
    assert set(errors) == {"members.emails.0"}
    errors = errors_of(SegmentCreate(context=CONTEXT), {"code": "x", "name": "n", "type": "static",
                                                        "members": {}})
    assert set(errors) == {"members"}


def test_invalid_members_are_not_also_reported_as_missing():
    errors = errors_of(SegmentCreate(context=CONTEXT),
                       {"code": "x", "name": "n", "type": "static", "members": {"emails": "x"}})
    assert set(errors) == {"members.emails"}


def test_datetimes_become_utc():
    data = create({"code": "x", "name": "n", "rule": RULE, "starts_at": "2025-01-01T03:00:00+03:00",
                   "expires_at": "2025-02-01T00:00:00"})
    assert data["starts_at"] == "2025-01-01T00:00:00Z" and data["expires_at"] == "2025-02-01T00:00:00Z"


def test_patch_takes_any_subset_without_defaults():
    schema = SegmentPatch(context=CONTEXT)
    assert schema.load({}) == {}
    assert schema.load({"name": "New", "description": None}) == {"name": "New", "description": ""}
    errors = errors_of(schema, {"name": None, "code": "BAD", "rule": {"groups": "x"}, "customers_count": 3})
    assert {"name", "code", "rule.groups", "customers_count"} <= set(errors)


def test_a_rule_needs_the_catalogue_in_the_context():
    with pytest.raises(RuntimeError):
        SegmentCreate().load({"code": "x", "name": "n", "rule": RULE})


def test_list_args_defaults_and_limits():
    schema = SegmentListArgs()
    assert schema.load({}) == {"sort": "-created_at", "page_size": 50, "cursor": None}
    errors = errors_of(schema, {"page_size": "1001", "sort": "colour", "min_customers": "-1"})
    assert set(errors) == {"page_size", "sort", "min_customers"}
    errors = errors_of(schema, {"min_customers": "5", "max_customers": "2"})
    assert set(errors) == {"max_customers"}


def test_list_dates_accept_a_day_or_an_instant():
    args = SegmentListArgs().load({"created_from": "2025-01-01", "created_to": "2025-01-31T10:00:00+03:00"})
    assert args["created_from"] == "2025-01-01" and args["created_to"] == "2025-01-31T07:00:00Z"
    assert set(errors_of(SegmentListArgs(), {"created_from": "yesterday"})) == {"created_from"}


def test_cursor_round_trip_and_sort_mismatch():
    cursor = encode_cursor("name", ["abc", "x"])
    assert SegmentListArgs().load({"cursor": cursor, "sort": "name"})["cursor"]["after"] == ["abc", "x"]
    assert set(errors_of(SegmentListArgs(), {"cursor": cursor})) == {"cursor"}
    assert set(errors_of(SegmentListArgs(), {"cursor": "not-a-cursor!"})) == {"cursor"}
