"""Conditions on other segments: unknown codes and cycles, named by their operand path."""

from __future__ import annotations

import pytest

from segsearch.rules.fields import catalogue
from segsearch.rules.references import check_segment_refs, segment_refs
from segsearch.rules.validation import RuleError, validate_rule

FIELDS = catalogue()


def seg_rule(*conditions: dict, **group: object) -> dict:
    return validate_rule({"groups": [{"block": "segments", "conditions": list(conditions),
                                      **group}]}, FIELDS)


def inc(*codes: str) -> dict:
    return {"field": "segments", "op": "in", "include": list(codes)}


def exc(*codes: str) -> dict:
    return {"field": "segments", "op": "in", "exclude": list(codes)}


def errors_of(rule: dict, graph: dict, code: str | None = None) -> dict[str, list[str]]:
    with pytest.raises(RuleError) as err:
        check_segment_refs(rule, graph, code)
    return err.value.errors


def test_refs_are_every_included_and_excluded_code() -> None:
    rule = validate_rule({"groups": [
        {"block": "customer", "conditions": [{"field": "city", "op": "in", "include": ["vip"]}]},
        {"block": "segments", "conditions": [inc("a", "b"), exc("c")]}]}, FIELDS)
    assert segment_refs(rule) == {"a", "b", "c"}  # `city` values are no segment codes
    assert segment_refs(None) == set()


def test_existing_codes_without_a_cycle_pass() -> None:
    graph = {"a": {"b"}, "b": set(), "c": set()}
    check_segment_refs(seg_rule(inc("a"), exc("c")), graph, "new")
    check_segment_refs(seg_rule(inc("a")), graph)  # a bare rule (preview)


def test_unknown_code_names_the_operand() -> None:
    rule = seg_rule(inc("a"), exc("nope"))
    assert errors_of(rule, {"a": set()}) == {
        "groups.0.conditions.1.exclude": ["unknown segment 'nope'"]}


def test_a_segment_naming_itself_is_a_cycle_even_before_it_exists() -> None:
    errors = errors_of(seg_rule(inc("me")), {}, "me")
    assert errors == {"groups.0.conditions.0.include": ["segment 'me' would make a cycle: me -> me"]}


def test_a_cycle_through_a_chain() -> None:
    # Editing c to name a closes c -> a -> b -> c.
    graph = {"a": {"b"}, "b": {"c"}, "c": set()}
    errors = errors_of(seg_rule(exc("a")), graph, "c")
    assert errors == {"groups.0.conditions.0.exclude": [
        "segment 'a' would make a cycle: c -> a -> b -> c"]}


def test_the_edited_segments_old_rule_does_not_count() -> None:
    # c used to name a; its new rule names b, which depends on nothing: fine.
    check_segment_refs(seg_rule(inc("b")), {"a": set(), "b": set(), "c": {"a"}}, "c")


def test_every_bad_operand_is_named() -> None:
    graph = {"a": {"x"}, "x": set()}
    errors = errors_of(seg_rule(inc("a"), inc("zz"), exc("x")), graph, "x")
    assert set(errors) == {"groups.0.conditions.0.include", "groups.0.conditions.1.include",
                           "groups.0.conditions.2.exclude"}


def test_only_in_is_allowed_on_segments() -> None:
    with pytest.raises(RuleError) as err:
        validate_rule({"groups": [{"block": "segments", "conditions": [
            {"field": "segments", "op": "exists"}]}]}, FIELDS)
    assert "groups.0.conditions.0.op" in err.value.errors
    with pytest.raises(RuleError) as err:
        validate_rule({"groups": [{"block": "customer", "conditions": [inc("a")]}]}, FIELDS)
    assert "groups.0.conditions.0.field" in err.value.errors
