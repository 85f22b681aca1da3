"""Instant preview of a rule: exact count, a sample, each group's own count.

One round trip (an msearch): the rule as the query gives the exact total and a sample; a
second, size-0 search counts every group on its own over the population (the store scope,
or everyone) with a `filters` aggregation. Profiled at 1M customers, this is 3-10x
cheaper than the rule as a `post_filter` under a match_all query (every customer was
visited and the filters ran beside it), and the `filters` aggregation on its own runs
filter by filter. A one-group rule needs no second search: its group's count is the
rule's. The sample comes in index order: sorting every match by id cost more than the
count itself on large segments.
"""
from __future__ import annotations

import time
from datetime import date
from typing import Any, Mapping

from elasticsearch import Elasticsearch

from segsearch.errors import Invalid
from segsearch.rules.compiler import compile_group, compile_rule
from segsearch.rules.fields import FieldDef
from segsearch.rules.validation import RuleError, validate_rule
from segsearch.search.client import msearch
from segsearch.segments.members import members_query

# Heavy or internal parts of a customer document a sample does not need.
SAMPLE_EXCLUDES = ["orders", "birthday_md", "custom_md"]


def checked_rule(rule: Any, fields: Mapping[str, FieldDef], prefix: str = "rule") -> dict:
    """The validated rule, or a 422 whose paths start at the request body."""
    try:
        return validate_rule(rule, fields)
    except RuleError as err:
        raise rule_invalid(err, prefix) from None


def rule_invalid(err: RuleError, prefix: str = "rule") -> Invalid:
    """A rule's errors as a 422 whose paths start at `prefix` in the request body."""
    errors = {prefix if k in ("", "_schema") else f"{prefix}.{k}": v for k, v in err.errors.items()}
    return Invalid("Invalid rule: " + ", ".join(sorted(errors)), errors)


def preview(es: Elasticsearch, index: str, fields: Mapping[str, FieldDef], rule: dict, *,
            today: date, timezone: str, store: str | None = None, sample_size: int = 10) -> dict:
    """Count, sample and per-group counts of a validated rule, without saving anything."""
    scope = {"term": {"store": store}} if store else {"match_all": {}}
    groups = {str(i): compile_group(g, fields, today=today, timezone=timezone)
              for i, g in enumerate(rule["groups"])}
    members: dict[str, Any] = {
        "query": compile_rule(rule, fields, today=today, timezone=timezone, store=store),
        "track_total_hits": True,
        "size": sample_size,
        "_source": {"excludes": SAMPLE_EXCLUDES},
    }
    searches: list[dict] = [{"index": index}, members]
    if len(groups) > 1:
        searches += [{"index": index}, {"query": scope, "size": 0, "track_total_hits": False,
                                        "aggs": {"groups": {"filters": {"filters": groups}}}}]
    started = time.perf_counter()
    response = msearch(es, searches)
    took_ms = round((time.perf_counter() - started) * 1000, 1)
    answers = response["responses"]
    res = answers[0]
    count = res["hits"]["total"]["value"]
    buckets = answers[1]["aggregations"]["groups"]["buckets"] if len(groups) > 1 else {
        i: {"doc_count": count} for i in groups}
    return {
        "count": res["hits"]["total"]["value"],
        "sample": [h["_source"] for h in res["hits"]["hits"]],
        "groups": [{"index": int(i), "count": buckets[i]["doc_count"]} for i in sorted(groups, key=int)],
        "took_ms": took_ms,
        "es_took_ms": max(a["took"] for a in answers),
    }


def preview_members(es: Elasticsearch, index: str, members: Mapping[str, list], *,
                    store: str | None = None, sample_size: int = 10) -> dict:
    """Count and sample of the customers an imported list names (a static segment from a
    list has no rule to preview), plus how many entries the list has."""
    listed = len(set(members.get("customer_ids") or [])) + \
        len({e.lower() for e in members.get("emails") or []})
    started = time.perf_counter()
    res = es.search(index=index, query=members_query(members, store), track_total_hits=True,
                    size=sample_size, source={"excludes": SAMPLE_EXCLUDES}, sort=[{"id": "asc"}])
    return {
        "count": res["hits"]["total"]["value"],
        "sample": [h["_source"] for h in res["hits"]["hits"]],
        "groups": [],
        "listed": listed,
        "took_ms": round((time.perf_counter() - started) * 1000, 1),
        "es_took_ms": res["took"],
    }


def matches_everyone(es: Elasticsearch, index: str, fields: Mapping[str, FieldDef], rule: dict, *,
                     today: date, timezone: str, store: str | None = None) -> int | None:
    """The number of customers (in the store, if any) when a validated rule matches every
    one of them, else None. A rule without blocks matches everyone, even in an empty index."""
    scope = {"term": {"store": store}} if store else {"match_all": {}}
    if not rule["groups"]:
        return es.count(index=index, query=scope)["count"]
    res = es.search(index=index, size=0, track_total_hits=True, query=scope, aggs={
        "matched": {"filter": compile_rule(rule, fields, today=today, timezone=timezone)}})
    total = res["hits"]["total"]["value"]
    matched = res["aggregations"]["matched"]["doc_count"]
    return total if total and matched == total else None
