"""Imported member lists of static segments: e-mails and customer ids.

E-mails match case-insensitively through the derived `email_lc` field; the import's
"not found" count is computed when the segment is created, so the response can say it.
"""
from __future__ import annotations

from typing import Any, Mapping

from elasticsearch import Elasticsearch, helpers


def members_query(members: Mapping[str, list], store: str | None = None) -> dict:
    """The customers an imported list names (by id or e-mail), within the store if any."""
    should: list[dict[str, Any]] = []
    if members.get("customer_ids"):
        should.append({"ids": {"values": list(members["customer_ids"])}})
    if members.get("emails"):
        should.append({"terms": {"email_lc": [e.lower() for e in members["emails"]]}})
    query: dict[str, Any] = {"bool": {"should": should, "minimum_should_match": 1}}
    if store:
        query = {"bool": {"filter": [query, {"term": {"store": store}}]}}
    return query


def not_found(es: Elasticsearch, index: str, members: Mapping[str, list]) -> int:
    """How many of the listed ids and e-mails match no customer."""
    ids = list(dict.fromkeys(members.get("customer_ids") or []))
    emails = {e.lower() for e in members.get("emails") or []}
    found_ids: set[str] = set()
    if ids:
        docs = es.mget(index=index, ids=ids, source=False)["docs"]
        found_ids = {d["_id"] for d in docs if d.get("found")}
    found_emails: set[str] = set()
    if emails:
        hits = helpers.scan(es, index=index, source=["email_lc"],
                            query={"query": {"terms": {"email_lc": sorted(emails)}}})
        found_emails = {h["_source"].get("email_lc") for h in hits}
    return len(ids) - len(found_ids) + len(emails - found_emails)
