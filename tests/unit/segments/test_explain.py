"""Explain's pure parts: the named queries it sends and how it reads the answer."""

from __future__ import annotations

from datetime import date

from segsearch.rules.compiler import compile_condition, compile_group, compile_rule
from segsearch.rules.fields import catalogue
from segsearch.rules.validation import validate_rule
from segsearch.segments.explain import completed_years, explanation, named_queries

FIELDS = catalogue()
TODAY = date(2025, 2, 28)
RULE = validate_rule({"match": "any", "groups": [
    {"block": "customer", "negate": True, "conditions": [
        {"field": "city", "op": "in", "include": ["Moscow"]},
        {"field": "age", "op": "between", "from": 18}]},
    {"block": "orders", "conditions": [
        {"field": "orders", "op": "sum", "from": 10, "where": {"statuses": ["paid"]}},
        {"field": "orders", "op": "count", "min": 1}]}]}, FIELDS)


def test_named_queries_are_the_compiled_ones() -> None:
    whole = compile_rule(RULE, FIELDS, today=TODAY, store="online")
    queries = {q["bool"]["_name"]: q["bool"] for q in
               named_queries(RULE, FIELDS, whole, today=TODAY, timezone="UTC")}
    assert list(queries) == ["rule", "g0", "g0.c0", "g0.c1", "g1", "g1.c0", "v:g1.c0", "g1.c1"]
    assert queries["rule"]["filter"] == [whole]
    assert queries["g0"]["filter"] == [compile_group(RULE["groups"][0], FIELDS, today=TODAY)]
    cond = RULE["groups"][0]["conditions"][1]
    assert queries["g0.c1"]["filter"] == [compile_condition(cond, FIELDS, today=TODAY)]
    # the value query scores (must), the truths only filter
    assert "must" in queries["v:g1.c0"] and "nested" in queries["v:g1.c0"]["must"][0]


def test_explanation_reads_truths_and_values() -> None:
    source = {"city": "Moscow", "birthday": "2004-02-29", "orders_count": 3,
              "total_spent": 0.30000000000000004}
    scores = {"g0.c0": 0.0, "g1": 0.0, "g1.c0": 0.0, "v:g1.c0": 1050.0, "g1.c1": 0.0, "rule": 0}
    body = explanation(RULE, FIELDS, source, scores, today=TODAY, with_values={"g1.c0"})
    assert body["matches"] is True
    assert [(g["matches"], [(c["matches"], c["value"]) for c in g["conditions"]])
            for g in body["groups"]] == [
        (False, [(True, "Moscow"), (False, 20)]),  # born 29 Feb: 21 only on 1 Mar 2025
        (True, [(True, 10.5), (True, 3)])]


def test_completed_years() -> None:
    assert completed_years("2004-02-29", date(2025, 2, 28)) == 20
    assert completed_years("2004-02-29", date(2025, 3, 1)) == 21
    assert completed_years(None, TODAY) is None
