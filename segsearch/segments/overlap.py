"""How 2..20 segments overlap (CONTRACT 6.4), from stored membership in one search.

The customers' `segments` field is the membership. One `filters` aggregation holds a
bucket per code (its count) and one per pair (`a&b`, both terms: the intersection; at
most 20 + 190 buckets); the union is the exact hit count of the query "in any of them".
(`adjacency_matrix` would say the same, but it lives in the aggregations module the
embedded node does not ship.)
"""
from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

from elasticsearch import Elasticsearch

from segsearch.errors import NotFound

AGG = "overlap"


def unknown_codes(es: Elasticsearch, segments_index: str, codes: Sequence[str]) -> list[str]:
    """The codes that name no segment (real-time GETs: a segment just created counts)."""
    docs = es.mget(index=segments_index, ids=list(codes), source=False)["docs"]
    found = {d["_id"] for d in docs if d.get("found")}
    return [code for code in codes if code not in found]


def check_codes(es: Elasticsearch, segments_index: str, codes: Sequence[str]) -> None:
    """NotFound (404) naming every unknown code by its position in the request."""
    missing = unknown_codes(es, segments_index, codes)
    if missing:
        errors = {f"codes.{codes.index(code)}": [f"unknown segment {code!r}"] for code in missing}
        raise NotFound("Unknown segments: " + ", ".join(missing), errors)


def overlap_query(codes: Sequence[str]) -> dict:
    """The search body: members of any of `codes`, a bucket per code and per pair."""
    filters: dict[str, dict] = {code: {"term": {"segments": code}} for code in codes}
    filters.update({_pair(a, b): {"bool": {"filter": [filters[a], filters[b]]}}
                    for a, b in combinations(codes, 2)})
    return {"size": 0, "track_total_hits": True, "query": {"terms": {"segments": list(codes)}},
            "aggs": {AGG: {"filters": {"filters": filters}}}}


def _pair(a: str, b: str) -> str:
    return f"{a}&{b}"  # "&" cannot occur in a code


def overlap_result(codes: Sequence[str], response: dict) -> dict:
    """{"counts", "pairs", "union"} from the search response; pairs in request order."""
    buckets = {key: b["doc_count"] for key, b in response["aggregations"][AGG]["buckets"].items()}
    return {"counts": {code: buckets[code] for code in codes},
            "pairs": [{"a": a, "b": b, "count": buckets[_pair(a, b)]}
                      for a, b in combinations(codes, 2)],
            "union": response["hits"]["total"]["value"]}


def overlap(es: Elasticsearch, customers_index: str, segments_index: str,
            codes: Sequence[str]) -> dict:
    """Counts, pairwise intersections and union of the (distinct, existing) segments."""
    check_codes(es, segments_index, codes)
    response = es.search(index=customers_index, **overlap_query(codes))
    return overlap_result(codes, response.body)
