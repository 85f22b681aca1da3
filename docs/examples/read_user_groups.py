"""Reading user groups straight from segsearch's Elasticsearch index (for promotion engines).

Uses only the official client (`pip install "elasticsearch>=8.14,<8.15"`), not segsearch.

    python read_user_groups.py --customer c1          # {"id": "c1", "user_groups": [...]}
    python read_user_groups.py --group VIP            # one customer id per line

Environment: ES_URL (default http://127.0.0.1:9200; several nodes comma-separated), ES_API_KEY
or ES_USERNAME + ES_PASSWORD, ES_CA_CERTS (a secured cluster, as for segsearch itself),
SEGSEARCH_INDEX_PREFIX (default "segsearch-"). Read the alias `<prefix>customers`, never a concrete index behind it: the
alias moves to a new index version when the mapping changes.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Mapping
from typing import Any

from elasticsearch import Elasticsearch, NotFoundError

FIELDS = ["user_groups", "segment_user_groups", "manual_user_groups", "segments", "updated_at"]


def customers_alias(prefix: str) -> str:
    return f"{prefix}customers"


def user_groups(es: Elasticsearch, alias: str, customer_id: str) -> dict | None:
    """One customer's groups by a real-time GET: the latest write, even before a refresh.
    None when there is no such customer."""
    try:
        doc = es.get(index=alias, id=customer_id, _source_includes=FIELDS)
    except NotFoundError:
        return None
    return {"id": customer_id, **{f: doc["_source"].get(f, [] if f != "updated_at" else None)
                                  for f in FIELDS}}


def customers_in_group(es: Elasticsearch, alias: str, group: str, page: int = 1000) -> Iterator[str]:
    """Every customer id holding `group`, consistently paged (point in time + search_after)."""
    pit = es.open_point_in_time(index=alias, keep_alive="1m")["id"]
    try:
        after = None
        while True:
            res = es.search(pit={"id": pit, "keep_alive": "1m"}, size=page, source=False,
                            query={"term": {"user_groups": group}}, sort=[{"_shard_doc": "asc"}],
                            track_total_hits=False, **({"search_after": after} if after else {}))
            pit = res.get("pit_id", pit)
            hits = res["hits"]["hits"]
            yield from (h["_id"] for h in hits)
            if len(hits) < page:
                return
            after = hits[-1]["sort"]
    finally:
        es.close_point_in_time(id=pit)


def client(env: Mapping[str, str]) -> Elasticsearch:
    """The same settings segsearch reads: one node or several, and a secured cluster's
    credentials and CA."""
    hosts = [h.strip() for h in env.get("ES_URL", "http://127.0.0.1:9200").split(",") if h.strip()]
    options: dict[str, Any] = {}
    if env.get("ES_API_KEY"):
        options["api_key"] = env["ES_API_KEY"]
    elif env.get("ES_USERNAME"):
        options["basic_auth"] = (env["ES_USERNAME"], env.get("ES_PASSWORD", ""))
    if env.get("ES_CA_CERTS"):
        options["ca_certs"] = env["ES_CA_CERTS"]
    return Elasticsearch(hosts, **options)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--customer", help="print this customer's user groups")
    what.add_argument("--group", help="print the id of every customer in this user group")
    args = parser.parse_args(argv)
    es = client(os.environ)
    alias = customers_alias(os.environ.get("SEGSEARCH_INDEX_PREFIX", "segsearch-"))
    if args.customer:
        found = user_groups(es, alias, args.customer)
        print(json.dumps(found))
        return 0 if found else 1
    for customer_id in customers_in_group(es, alias, args.group):
        print(customer_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
