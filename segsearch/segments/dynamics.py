"""A segment's dynamics: the customer count after each formation, read from its events.

The admin's list draws a sparkline per segment and its segment page a chart; both read
the formation points of many segments in one search here, never in a view.
"""
from __future__ import annotations

from typing import Any

from elasticsearch import Elasticsearch, NotFoundError

# What a point carries: enough for a chart and its tooltips.
POINT_FIELDS = ["at", "count", "entered", "left"]


def dynamics_by_segment(es: Elasticsearch, index: str, codes: list[str],
                        points: int = 20) -> dict[str, list[dict]]:
    """The last `points` formations of each segment in `codes`, oldest first, in one search.

    `index` is the segment events index; a segment never formed is absent from the answer.
    """
    if not codes:
        return {}
    body: dict[str, Any] = {
        "size": 0,
        "query": {"bool": {"filter": [{"term": {"kind": "formation"}},
                                      {"terms": {"segment": codes}}]}},
        "aggs": {"by_segment": {
            "terms": {"field": "segment", "size": len(codes)},
            "aggs": {"latest": {"top_hits": {
                "size": points, "sort": [{"at": {"order": "desc"}}],
                "_source": POINT_FIELDS}}}}},
    }
    try:
        res = es.search(index=index, **body)
    except NotFoundError:  # the events index appears with the first recorded formation
        return {}
    out = {}
    for bucket in res["aggregations"]["by_segment"]["buckets"]:
        hits = bucket["latest"]["hits"]["hits"]
        out[bucket["key"]] = [h["_source"] for h in reversed(hits)]
    return out
