"""Why a customer does (not) match a rule (CONTRACT 6.3), from the compiled queries.

One search on the stored customer document (an `ids` filter) carries a named query per
condition (its own truth), per group (its contribution after `negate`) and for the whole
rule: the same compiled queries preview and formation run, so the truths Elasticsearch
reports in `matched_queries` can never disagree with them.

Values come from the stored document, except two derived ones:
  * `age`: completed years at today (the compiler's `today`), from the stored birthday;
  * an `orders` condition with `where` parts: one more named query per condition whose
    SCORE is the value (the compiler's nested count / sum-in-cents query, read with
    `include_named_queries_score`); without `where` it is the stored `orders_count` /
    `total_spent` the condition compares. Sums are float32 scores: exact to the cent up
    to 167,772.16, like the condition itself.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from elasticsearch import Elasticsearch

from segsearch.errors import NotFound
from segsearch.rules.compiler import (
    VALUE_SCALE,
    compile_condition,
    compile_group,
    compile_orders_value,
    compile_rule,
)
from segsearch.rules.fields import FieldDef
from segsearch.search.indices import Indices
from segsearch.segments.deps import SegmentDeps
from segsearch.segments.members import members_query
from segsearch.segments.preview import checked_rule
from segsearch.segments.store import SegmentStore

RULE = "rule"  # the name of the whole rule's query


def _named(name: str, query: dict, *, scored: bool = False) -> dict:
    # A bool wrapper carries the name whatever the query's own shape; `must` keeps the
    # score (for value queries), `filter` is enough for a truth.
    return {"bool": {"must" if scored else "filter": [query], "_name": name}}


def _names(gi: int, ci: int | None = None) -> str:
    return f"g{gi}" if ci is None else f"g{gi}.c{ci}"


def named_queries(rule: dict, fields: Mapping[str, FieldDef], whole: dict, *, today: date,
                  timezone: str) -> list[dict]:
    """The named queries of a validated rule: `rule`, `g<i>`, `g<i>.c<j>`, `v:g<i>.c<j>`."""
    queries = [_named(RULE, whole)]
    for gi, group in enumerate(rule["groups"]):
        queries.append(_named(_names(gi), compile_group(group, fields, today=today,
                                                        timezone=timezone)))
        for ci, cond in enumerate(group["conditions"]):
            name = _names(gi, ci)
            queries.append(_named(name, compile_condition(cond, fields, today=today,
                                                          timezone=timezone)))
            value = compile_orders_value(cond, today=today, timezone=timezone) \
                if cond["field"] == "orders" else None
            if value is not None:
                queries.append(_named("v:" + name, value, scored=True))
    return queries


def search_explained(es: Elasticsearch, index: str, customer_id: str,
                     queries: list[dict]) -> tuple[dict, dict[str, float]]:
    """The customer's stored document and {name: score} of its matching named queries."""
    body = {"size": 1, "_source": {"excludes": ["orders"]},
            "query": {"bool": {"filter": [{"ids": {"values": [customer_id]}}],
                               "should": queries, "minimum_should_match": 0}}}
    # perform_request: the 8.14 client has no keyword for this (server-side 8.8+) flag.
    res = es.perform_request("POST", f"/{index}/_search", body=body,
                             params={"include_named_queries_score": "true"},
                             headers={"accept": "application/json",
                                      "content-type": "application/json"})
    hits = res.body["hits"]["hits"]
    if not hits:
        raise NotFound(f"Customer {customer_id!r} not found.")
    return hits[0]["_source"], hits[0].get("matched_queries") or {}


def _lookup(source: Mapping, path: str) -> Any:
    node: Any = source
    for part in path.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    return node


def completed_years(birthday: str | None, today: date) -> int | None:
    """Age at `today`: completed years (someone born on 29 Feb ages on 1 Mar)."""
    if not birthday:
        return None
    born = date.fromisoformat(birthday[:10])
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _orders_value(cond: dict, name: str, source: Mapping, scores: Mapping[str, float],
                  scored: bool) -> Any:
    if not scored:  # no `where`: the condition compares the stored aggregate
        if cond["op"] == "count":
            return source.get("orders_count") or 0
        # A double sum of 2-decimal totals: whole cents, without its float noise.
        return round(source.get("total_spent") or 0, 2)
    units = scores.get("v:" + name, 0.0)  # no matching order: the query did not match
    if cond["op"] == "count":
        return round(units)
    return round(round(units) / VALUE_SCALE["sum"], 2)


def condition_value(cond: dict, fdef: FieldDef, name: str, source: Mapping,
                    scores: Mapping[str, float], today: date, scored: bool = False) -> Any:
    """What the customer has for the condition's field (see the module docstring);
    `scored`: the condition has a value query named ``v:<name>``."""
    if fdef.type == "orders":
        return _orders_value(cond, name, source, scores, scored)
    if fdef.type == "age":
        return completed_years(source.get("birthday"), today)
    return _lookup(source, fdef.path or fdef.code)


def explanation(rule: dict, fields: Mapping[str, FieldDef], source: Mapping,
                scores: Mapping[str, float], *, today: date, with_values: set[str]) -> dict:
    """The CONTRACT 6.3 body (without customer_id / member) from the search's results.

    `with_values`: names of the conditions that have a value query.
    """
    groups = []
    for gi, group in enumerate(rule["groups"]):
        conditions = []
        for ci, cond in enumerate(group["conditions"]):
            name = _names(gi, ci)
            value = condition_value(cond, fields[cond["field"]], name, source, scores, today,
                                    scored=name in with_values)
            conditions.append({"index": ci, "field": cond["field"], "op": cond["op"],
                               "matches": name in scores, "value": value})
        groups.append({"index": gi, "matches": _names(gi) in scores, "conditions": conditions})
    return {"matches": RULE in scores, "groups": groups}


def explain(es: Elasticsearch, index: str, fields: Mapping[str, FieldDef], rule: dict,
            customer_id: str, *, today: date, timezone: str, store: str | None = None,
            whole: dict | None = None, code: str | None = None) -> dict:
    """Explain a validated rule for one stored customer (404 if there is none).

    `store` scopes the whole rule like a segment's formation; `whole` replaces the whole
    rule's query (an imported list); `code`: the segment whose membership is reported.
    """
    if whole is None:
        whole = compile_rule(rule, fields, today=today, timezone=timezone, store=store)
    queries = named_queries(rule, fields, whole, today=today, timezone=timezone)
    with_values = {q["bool"]["_name"][2:] for q in queries if q["bool"]["_name"].startswith("v:")}
    source, scores = search_explained(es, index, customer_id, queries)
    body = explanation(rule, fields, source, scores, today=today, with_values=with_values)
    member = None if code is None else code in (source.get("segments") or [])
    return {"customer_id": customer_id, "matches": body["matches"], "member": member,
            "groups": body["groups"]}


class ExplainService:
    """Explain for the API and the admin: resolves a code or checks a bare rule."""

    def __init__(self, es: Elasticsearch, indices: Indices, fields: Mapping[str, FieldDef], *,
                 today: date, timezone: str):
        self.es = es
        self.indices = indices
        self.fields = fields
        self.today = today
        self.timezone = timezone

    def explain(self, customer_id: str, *, rule: Any = None, code: str | None = None) -> dict:
        """404 for an unknown customer or code, 422 for an invalid rule."""
        if code is not None:
            return self._segment(customer_id, code)
        checked = checked_rule(rule, self.fields)
        SegmentDeps(self.es, self.indices.segments).check(checked)  # unknown codes: 422
        return self._run(checked, customer_id)

    def _segment(self, customer_id: str, code: str) -> dict:
        segment = SegmentStore(self.es, self.indices).get(code)
        store = segment.get("store")
        if segment.get("rule") is None:  # an imported list: no groups, the list decides
            empty = {"match": "all", "groups": []}
            return self._run(empty, customer_id, code=code,
                             whole=members_query(segment.get("members") or {}, store))
        # A stored rule may outlive a custom field: that is a 422 naming it, not a 500.
        checked = checked_rule(segment["rule"], self.fields)
        return self._run(checked, customer_id, code=code, store=store)

    def _run(self, rule: dict, customer_id: str, **kwargs: Any) -> dict:
        return explain(self.es, self.indices.customers, self.fields, rule, customer_id,
                       today=self.today, timezone=self.timezone, **kwargs)
