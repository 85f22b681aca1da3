"""Property: the compiler's Elasticsearch query selects exactly the oracle's customers.

For each hypothesis example one random dataset goes through the real ingest path into
the test's index set, then many random valid rules are validated, compiled, run against
the real node and compared with tests/oracle/evaluator.py (an independent, naive reading
of CONTRACT section 5). Each example's customers and orders get their own id prefix and
every search is restricted to that prefix, so examples never see each other's data
(import_dataset writes into the same index set for the whole test). The product tree,
the products and the custom-field definitions are the same in every dataset.

Knobs (environment): SEGSEARCH_PROPERTY_DATASETS (default 20), SEGSEARCH_PROPERTY_RULES
(default 30 per dataset, plus the empty rule), SEGSEARCH_PROPERTY_SHRINK=1 to let hypothesis shrink a failure
(slow: every shrink step re-indexes a dataset).
"""

from __future__ import annotations

import itertools
import json
import os

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from segsearch.rules.compiler import compile_rule
from segsearch.rules.fields import catalogue
from segsearch.rules.validation import validate_rule
from tests.oracle.evaluator import matching_ids
from tests.oracle.strategies import datasets, rules, stores, timezones, todays

pytestmark = pytest.mark.integration

DATASETS = int(os.environ.get("SEGSEARCH_PROPERTY_DATASETS", "20"))
RULES_PER_DATASET = int(os.environ.get("SEGSEARCH_PROPERTY_RULES", "30"))
PHASES = [Phase.explicit, Phase.reuse, Phase.generate]
if os.environ.get("SEGSEARCH_PROPERTY_SHRINK") == "1":
    PHASES.append(Phase.shrink)

_examples = itertools.count(1)
# What of the (fixed) catalogue each index set already holds: loading the product tree
# takes seconds, so it is loaded once per test, custom fields as they first appear.
_catalogue_loaded: dict[str, set[str]] = {}


@pytest.fixture(autouse=True)
def _forget_catalogues():
    """A test's index set may be a pooled one an earlier test used (and emptied)."""
    _catalogue_loaded.clear()


def _import(feed, dataset: dict, prefix: str) -> None:
    registered = _catalogue_loaded.setdefault(feed.indices.customers, set())
    first = not registered
    new_fields = [cf for cf in dataset["custom_fields"] if cf["code"] not in registered]
    data = _namespaced(dataset, prefix)
    feed.import_dataset(product_groups=data["product_groups"] if first else [],
                        products=data["products"] if first else [],
                        custom_fields=new_fields, customers=data["customers"],
                        orders=data["orders"])
    registered.update({"*"} | {cf["code"] for cf in new_fields})


def _namespaced(dataset: dict, prefix: str) -> dict:
    """The dataset with customer and order ids prefixed (rules never name either)."""
    return {
        **dataset,
        "customers": [{**c, "id": prefix + c["id"]} for c in dataset["customers"]],
        "orders": [{**o, "id": prefix + o["id"], "customer_id": prefix + o["customer_id"]}
                   for o in dataset["orders"]],
    }


def _search(feed, query: dict, prefix: str, ids: list[str]) -> set[str]:
    scoped = {"bool": {"filter": [query, {"ids": {"values": ids}}]}}
    res = feed.es.search(index=feed.indices.customers, query=scoped, size=1000, _source=False)
    assert res["hits"]["total"]["value"] <= 1000
    return {hit["_id"][len(prefix):] for hit in res["hits"]["hits"]}


def _explain(dataset: dict, rule: dict, case: dict, es_ids: set[str], oracle_ids: set[str],
             query: dict | None) -> str:
    only_es, only_oracle = sorted(es_ids - oracle_ids), sorted(oracle_ids - es_ids)
    lines = [
        f"today={case['today']} timezone={case['timezone']} store={case['store']}",
        "rule: " + json.dumps(rule, sort_keys=True),
        f"only in Elasticsearch ({len(only_es)}): {only_es}",
        f"only in the oracle ({len(only_oracle)}): {only_oracle}",
    ]
    for cid in (only_es + only_oracle)[:4]:
        customer = next(c for c in dataset["customers"] if c["id"] == cid)
        orders = [o for o in dataset["orders"] if o["customer_id"] == cid]
        lines.append(f"  {cid}: {json.dumps(customer, sort_keys=True)}")
        lines.extend(f"    order {json.dumps(o, sort_keys=True)}" for o in orders)
    if query is not None:
        lines.append("query: " + json.dumps(query, sort_keys=True, default=str)[:4000])
    return "\n".join(lines)


def _check(feed, dataset: dict, fields, prefix: str, ids: list[str], rule: dict,
           case: dict) -> str | None:
    """None when the compiler agrees with the oracle, else a description of the mismatch."""
    expected = matching_ids(rule, **dataset, **case)
    try:
        normalised = validate_rule(rule, fields)
        query = compile_rule(normalised, fields, **case)
    except Exception as exc:  # a contract-valid rule must validate and compile
        return (f"{type(exc).__name__}: {exc}\n"
                + _explain(dataset, rule, case, set(), expected, None))
    got = _search(feed, query, prefix, ids)
    return None if got == expected else _explain(dataset, rule, case, got, expected, query)


@settings(max_examples=DATASETS, deadline=None, derandomize=False, phases=PHASES, print_blob=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(data=st.data())
def test_compiled_rules_select_what_the_oracle_selects(feed, data):
    dataset = data.draw(datasets(), label="dataset")
    prefix = f"x{next(_examples)}-"
    _import(feed, dataset, prefix)
    fields = catalogue(dataset["custom_fields"])
    ids = [prefix + c["id"] for c in dataset["customers"]]
    rule_strategy = rules(dataset)
    failures: list[str] = []
    rules_ = [{"match": "all", "groups": []}]  # no group = everyone
    rules_ += [data.draw(rule_strategy, label=f"rule {i}") for i in range(RULES_PER_DATASET)]
    for rule in rules_:
        case = {"today": data.draw(todays()), "timezone": data.draw(timezones()),
                "store": data.draw(stores())}
        failure = _check(feed, dataset, fields, prefix, ids, rule, case)
        if failure:
            failures.append(failure)
    assert not failures, (f"{len(failures)} of {len(rules_)} rules disagree with the oracle:\n\n"
                          + "\n\n".join(failures[:5]))
