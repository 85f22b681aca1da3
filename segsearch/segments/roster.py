"""Reads of customers for people: lists and members of a segment, a customer's history.

The API (api/customers.py, api/membership.py) and the admin's members and customer pages
both call these, so neither builds Elasticsearch queries of its own.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from elasticsearch import Elasticsearch

from segsearch.search.indices import Indices
from segsearch.segments.schemas import encode_cursor
from segsearch.segments.store import SegmentStore

MAX_Q_WORDS = 8  # q is a few name/email prefixes, not a document
# Derived for the index only: the rule compiler reads them, people never need them.
_INTERNAL = {"birthday_md", "custom_md", "email_lc"}
_INTERNAL_ORDER = {"total_minor", "product_groups", "product_ids"}


def customer_out(doc: Mapping[str, Any]) -> dict:
    """A stored customer as the API and the admin show it (user_groups the union)."""
    out = {k: v for k, v in doc.items() if k not in _INTERNAL}
    out["orders"] = [{k: v for k, v in o.items() if k not in _INTERNAL_ORDER}
                     for o in doc.get("orders", [])]
    out["user_groups"] = sorted(set(doc.get("manual_user_groups", []))
                                | set(doc.get("segment_user_groups", [])))
    for key in ("segments", "manual_user_groups", "segment_user_groups"):
        out.setdefault(key, [])
    return out


def customer_filters(args: Mapping[str, Any]) -> list[dict]:
    """Filter clauses of the customer list; absent keys do not filter."""
    clauses: list[dict] = []
    for arg, field in (("segment", "segments"), ("user_group", "user_groups"),
                       ("city", "city"), ("store", "store")):
        if args.get(arg):
            clauses.append({"term": {field: args[arg]}})
    if args.get("email"):
        # Emails are stored as given; people type them in any case.
        clauses.append({"term": {"email": {"value": args["email"], "case_insensitive": True}}})
    for word in (args.get("q") or "").split()[:MAX_Q_WORDS]:
        clauses.append(_prefix_anywhere(word))
    return clauses


def _prefix_anywhere(word: str) -> dict:
    # The fields are keywords (no analyzer): a case-insensitive prefix query on each.
    return {"bool": {"minimum_should_match": 1, "should": [
        {"prefix": {field: {"value": word, "case_insensitive": True}}}
        for field in ("first_name", "last_name", "email", "id")]}}


def list_customers(es: Elasticsearch, indices: Indices, args: Mapping[str, Any]) -> dict:
    """One page sorted by id (unique: stable paging with search_after), total exact.
    `args`: the filters above, `page_size` and `cursor` (the last page's sort values)."""
    if args.get("segment"):
        SegmentStore(es, indices).get(args["segment"])  # 404 for an unknown segment
    size = args["page_size"]
    extra = {"search_after": args["cursor"]} if args.get("cursor") else {}
    res = es.search(index=indices.customers, query={"bool": {"filter": customer_filters(args)}},
                    sort=[{"id": "asc"}], size=size + 1, track_total_hits=True,
                    source={"excludes": ["orders"]},  # the list is the light view
                    **extra)
    hits = res["hits"]["hits"]
    more = len(hits) > size
    hits = hits[:size]
    return {"items": [_light(h["_source"]) for h in hits],
            "next_cursor": encode_cursor("id", hits[-1]["sort"]) if more else None,
            "total": res["hits"]["total"]["value"]}


def _light(doc: Mapping[str, Any]) -> dict:
    out = customer_out(doc)
    out.pop("orders", None)
    return out


def events(es: Elasticsearch, indices: Indices, *, size: int, kind: str = "member",
           customer_id: str | None = None, segment: str | None = None) -> list[dict]:
    """History events (enter/leave, or formation points), newest first."""
    clauses: list[dict] = [{"term": {"kind": kind}}]
    if customer_id is not None:
        clauses.append({"term": {"customer_id": customer_id}})
    if segment is not None:
        clauses.append({"term": {"segment": segment}})
    res = es.search(index=indices.segment_events, query={"bool": {"filter": clauses}}, size=size,
                    sort=[{"at": "desc"}], track_total_hits=False)
    return [h["_source"] for h in res["hits"]["hits"]]


def group_sources(doc: Mapping[str, Any], granted: Mapping[str, str | None]) -> list[dict]:
    """Each of the customer's user groups with where it comes from: by hand, and/or the
    segments that grant it (the seeds' four rules, made visible)."""
    out: dict[str, dict] = {}
    for group in doc.get("manual_user_groups", []):
        out.setdefault(group, {"group": group, "manual": False, "segments": []})["manual"] = True
    for code in doc.get("segments", []):
        group = granted.get(code)
        if group:
            out.setdefault(group, {"group": group, "manual": False, "segments": []})["segments"].append(code)
    return [out[g] for g in sorted(out)]
