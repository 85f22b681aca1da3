"""The text form over HTTP: /rules/format, /rules/parse, and `rule_text` in preview and
segments; generated rules preview to the same counts on the real node as text and as JSON."""
from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.oracle.strategies import datasets, rules

pytestmark = pytest.mark.integration

PREVIEW_RULES = int(os.environ.get("SEGSEARCH_TEXT_PREVIEW_RULES", "40"))

RULE = {"match": "all", "groups": [
    {"block": "customer", "conditions": [{"field": "city", "op": "in", "include": ["Moscow"]}]},
    {"block": "orders", "negate": True, "conditions": [
        {"field": "orders", "op": "count", "min": 1, "where": {"statuses": ["paid"]}}]}]}
TEXT = ("ALL OF\ncustomer ALL (\n  City is one of Moscow\n)\n"
        "NOT orders ALL (\n  Orders count at least 1 where status is one of paid\n)\n")


def test_format_then_parse(api):
    r = api.post("/api/v1/rules/format", json={"rule": RULE})
    assert r.status_code == 200, r.json
    assert r.json == {"text": TEXT}
    back = api.post("/api/v1/rules/parse", json={"text": r.json["text"]})
    assert back.status_code == 200, back.json
    rule = back.json["rule"]
    assert rule["groups"][1]["conditions"][0] == {
        "field": "orders", "op": "count", "min": 1, "max": None, "where": {"statuses": ["paid"]}}
    assert rule["groups"][0]["negate"] is False and rule["groups"][1]["negate"] is True


def test_parse_error_names_line_column_and_expected(api):
    r = api.post("/api/v1/rules/parse", json={"text": "customer (\n  City is one of\n)"})
    assert r.status_code == 422
    body = r.json
    assert (body["line"], body["column"]) == (3, 1)
    assert "a value" in body["expected"]
    assert body["errors"]["text"][0].startswith("line 3, column 1: expected")
    assert {"code", "status", "message", "errors"} <= set(body)
    r = api.post("/api/v1/rules/parse", json={"text": "customer (Age between 40 and 18)"})
    assert r.status_code == 422 and (r.json["line"], r.json["column"]) == (1, 30)


def test_format_of_an_invalid_rule_names_its_paths(api):
    bad = {"groups": [{"block": "customer", "conditions": [{"field": "nope", "op": "in"}]}]}
    r = api.post("/api/v1/rules/format", json={"rule": bad})
    assert r.status_code == 422
    assert "rule.groups.0.conditions.0.field" in r.json["errors"]
    assert api.post("/api/v1/rules/parse", json={}).status_code == 422


def test_preview_takes_rule_text(api, feed):
    feed.import_dataset(customers=[{"id": f"c{i}", "city": "Moscow" if i % 2 else "Kazan"}
                                   for i in range(10)])
    as_json = api.post("/api/v1/segments/preview", json={"rule": RULE})
    as_text = api.post("/api/v1/segments/preview", json={"rule_text": TEXT})
    assert as_text.status_code == 200, as_text.json
    assert as_text.json["count"] == as_json.json["count"] == 5
    both = api.post("/api/v1/segments/preview", json={"rule": RULE, "rule_text": TEXT})
    assert both.status_code == 422 and "rule_text" in both.json["errors"]
    neither = api.post("/api/v1/segments/preview", json={"sample_size": 1})
    assert neither.status_code == 422 and "rule" in neither.json["errors"]
    bad = api.post("/api/v1/segments/preview", json={"rule_text": "customer (City is)"})
    assert bad.status_code == 422
    assert bad.json["errors"]["rule_text"][0].startswith("line 1, column 18:")


def test_segments_take_rule_text(api):
    r = api.post("/api/v1/segments", json={"code": "moscow", "name": "Moscow", "rule_text": TEXT})
    assert r.status_code == 201, r.json
    assert r.json["rule"]["groups"][1]["conditions"][0]["where"] == {"statuses": ["paid"]}
    r = api.patch("/api/v1/segments/moscow", json={"rule_text": "customer (VIP is yes)"})
    assert r.status_code == 200, r.json
    assert r.json["rule"]["groups"][0]["conditions"] == [{"field": "vip", "op": "is", "value": True}]
    r = api.patch("/api/v1/segments/moscow", json={"rule_text": "customer (VIP is maybe)"})
    assert r.status_code == 422 and r.json["errors"]["rule_text"][0].startswith("line 1, column 18")
    r = api.post("/api/v1/segments", json={"code": "x", "name": "X", "rule": RULE,
                                           "rule_text": TEXT})
    assert r.status_code == 422 and "rule_text" in r.json["errors"]
    r = api.post("/api/v1/segments", json={"code": "y", "name": "Y"})
    assert r.status_code == 422 and "rule" in r.json["errors"]
    long = "customer (VIP is yes)" + " " * 100_000
    r = api.post("/api/v1/segments", json={"code": "z", "name": "Z", "rule_text": long})
    assert r.status_code == 422 and "rule_text" in r.json["errors"]
    assert api.post("/api/v1/rules/parse", json={"text": long}).status_code == 422


@settings(max_examples=1, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(data=st.data())
def test_generated_rules_preview_alike_as_text_and_json(api, feed, data):
    """Equal counts (and per-group counts) on the real node for both forms of each rule."""
    dataset = data.draw(datasets(), label="dataset")
    feed.import_dataset(**dataset)
    strategy = rules(dataset)
    for i in range(PREVIEW_RULES):
        rule = data.draw(strategy, label=f"rule {i}")
        text = api.post("/api/v1/rules/format", json={"rule": rule})
        assert text.status_code == 200, (rule, text.json)
        as_json = api.post("/api/v1/segments/preview", json={"rule": rule, "sample_size": 0})
        as_text = api.post("/api/v1/segments/preview",
                           json={"rule_text": text.json["text"], "sample_size": 0})
        assert as_text.status_code == as_json.status_code == 200, (text.json, as_text.json)
        assert (as_text.json["count"], as_text.json["groups"]) == \
            (as_json.json["count"], as_json.json["groups"]), text.json["text"]
