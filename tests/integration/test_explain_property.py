"""Properties on the real node for CONTRACT 6.2 and 6.3, against tests/oracle/evaluator.py.

Each example imports a random dataset whose customers also carry a stored membership
(`segments`, written after the import the way the membership writer does), then:
  * random rules (segment conditions included) select exactly the oracle's customers;
  * explain agrees with the oracle condition by condition, group by group and for the
    whole rule -- truths and values -- for every customer of the dataset.

Knobs: SEGSEARCH_EXPLAIN_DATASETS (default 3), SEGSEARCH_EXPLAIN_RULES (default 8 per
dataset; every customer is explained for the first SEGSEARCH_EXPLAIN_EXPLAINED, default 3).
"""

from __future__ import annotations

import itertools
import json
import os
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from segsearch.rules.compiler import compile_rule
from segsearch.rules.fields import catalogue
from segsearch.rules.validation import validate_rule
from segsearch.segments.explain import explain
from tests.integration.test_rules_property import _import, _search
from tests.oracle.evaluator import explain_customer, field_type, matching_ids
from tests.oracle.strategies import datasets, rules, stores, timezones, todays

pytestmark = pytest.mark.integration

DATASETS = int(os.environ.get("SEGSEARCH_EXPLAIN_DATASETS", "3"))
RULES = int(os.environ.get("SEGSEARCH_EXPLAIN_RULES", "8"))
EXPLAINED = int(os.environ.get("SEGSEARCH_EXPLAIN_EXPLAINED", "3"))
_examples = itertools.count(1)


def _import_with_membership(feed, dataset: dict, prefix: str) -> None:
    """The dataset through the feed, then each customer's `segments` as membership."""
    bare = {**dataset, "customers": [{k: v for k, v in c.items() if k != "segments"}
                                     for c in dataset["customers"]]}
    bare.pop("segment_codes", None)
    _import(feed, bare, prefix)
    writes = {prefix + c["id"]: (lambda doc, codes=c["segments"]: {"segments": codes})
              for c in dataset["customers"]}
    assert not feed.patch_customers(writes, ["segments"], refresh="true")


def _canon(value: Any, ftype: str) -> Any:
    """One comparable form for the node's stored/derived value and the oracle's."""
    if ftype in ("keywords", "segments"):
        return frozenset(value or ()) or None
    if value is None or ftype in ("keyword", "boolean"):
        return value
    if ftype == "date":
        return value.isoformat() if isinstance(value, date) else value
    if ftype == "datetime":
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.astimezone(UTC)
    # numbers: stored doubles (total_spent, averages) carry float noise; 6 places is plenty
    return round(Decimal(str(value)), 6)


def _diff_explain(got: dict, want: dict, rule: dict, custom_fields: list) -> list[str]:
    problems = []
    if got["matches"] != want["matches"]:
        problems.append(f"rule: node {got['matches']} oracle {want['matches']}")
    for g_got, g_want, group in zip(got["groups"], want["groups"], rule["groups"], strict=True):
        if g_got["matches"] != g_want["matches"]:
            problems.append(f"group {g_got['index']}: node {g_got['matches']} oracle {g_want['matches']}")
        for c_got, c_want, cond in zip(g_got["conditions"], g_want["conditions"],
                                       group["conditions"], strict=True):
            ftype = field_type(cond["field"], custom_fields)
            where = f"group {g_got['index']} condition {c_got['index']} {json.dumps(cond)}"
            if c_got["matches"] != c_want["matches"]:
                problems.append(f"{where}: node {c_got['matches']} oracle {c_want['matches']}")
            if _canon(c_got["value"], ftype) != _canon(c_want["value"], ftype):
                problems.append(f"{where}: value node {c_got['value']!r} oracle {c_want['value']!r}")
    return problems


def _check_rule(feed, dataset, fields, prefix, ids, rule, case, explained: bool) -> list[str]:
    normalised = validate_rule(rule, fields)
    query = compile_rule(normalised, fields, **case)
    expected = matching_ids(rule, **_world(dataset), **case)
    got = _search(feed, query, prefix, ids)
    failures = []
    if got != expected:
        failures.append(f"selection differs: node only {sorted(got - expected)}, "
                        f"oracle only {sorted(expected - got)}; {case}; {json.dumps(rule)}")
    if not explained:
        return failures
    for customer in dataset["customers"]:
        node = explain(feed.es, feed.indices.customers, fields, normalised, prefix + customer["id"],
                       **case)
        oracle = explain_customer(rule, customer["id"], **_world(dataset), **case)
        problems = _diff_explain(node, oracle, normalised, dataset["custom_fields"])
        if node["matches"] != (customer["id"] in got):
            problems.append("explain's whole-rule truth differs from the compiled query's")
        if problems:
            failures.append(f"explain {customer['id']} {case} {json.dumps(rule)}: {problems}")
    return failures


def _world(dataset: dict) -> dict:
    return {k: dataset[k] for k in ("customers", "orders", "products", "product_groups",
                                    "custom_fields")}


@settings(max_examples=DATASETS, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          print_blob=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(data=st.data())
def test_segment_conditions_and_explain_agree_with_the_oracle(feed, data):
    dataset = data.draw(datasets(memberships=True), label="dataset")
    prefix = f"e{next(_examples)}-"
    _import_with_membership(feed, dataset, prefix)
    fields = catalogue(dataset["custom_fields"])
    ids = [prefix + c["id"] for c in dataset["customers"]]
    # Always one rule that is only about segments, so 6.2 is exercised in every example.
    only_segments = {"match": "any", "groups": [
        {"block": "segments", "negate": True, "conditions": [
            {"field": "segments", "op": "in", "include": ["vip"], "exclude": ["churned"]}]},
        {"block": "segments", "match": "all", "conditions": [
            {"field": "segments", "op": "in", "include": ["moscow"]},
            {"field": "segments", "op": "in", "exclude": ["loyal-2"]}]}]}
    rules_ = [only_segments] + [data.draw(rules(dataset), label=f"rule {i}") for i in range(RULES)]
    failures: list[str] = []
    for i, rule in enumerate(rules_):
        case = {"today": data.draw(todays()), "timezone": data.draw(timezones()),
                "store": data.draw(stores())}
        failures += _check_rule(feed, dataset, fields, prefix, ids, rule, case, i < EXPLAINED)
    assert not failures, f"{len(failures)} disagreements:\n" + "\n".join(failures[:8])
