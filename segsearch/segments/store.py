"""Stored segments in Elasticsearch: one document per segment, keyed by its code.

Writes are conditional (if_seq_no / if_primary_term), never scripted (the node has no
scripting). Two kinds of writer share a document: people editing it (PATCH) and the
membership engine recording its state (STATE_FIELDS). An edit that lost the race to
another edit is a 409; an edit that only raced an engine state write is re-applied
on the fresh document, and engine writes always retry, so neither loses the other's
fields.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from elasticsearch import ConflictError, Elasticsearch, NotFoundError, helpers

from segsearch.clock import now_iso
from segsearch.errors import Conflict, NotFound
from segsearch.search.indices import Indices
from segsearch.segments.schemas import DEFAULT_SORT, encode_cursor

# Written by the membership engine through set_state(), never by an edit.
STATE_FIELDS = frozenset({"status", "customers_count", "last_formed_at", "next_run_at",
                          "members_not_found", "last_error", "failed_attempts"})
# Sort keys of the API -> indexed fields; the code (unique) breaks ties.
SORT_FIELDS = {"code": "code", "name": "name_sort", "created_at": "created_at",
               "updated_at": "updated_at", "customers_count": "customers_count",
               "last_formed_at": "last_formed_at"}

Mutation = Callable[[dict], dict | None]


@dataclass(frozen=True)
class Versioned:
    """A segment document with the sequence number and primary term it was read at."""

    doc: dict
    seq_no: int
    primary_term: int


class SegmentStore:
    """CRUD, listing and engine state of the segments of one instance (index prefix)."""

    def __init__(self, es: Elasticsearch, indices: Indices, occ_retries: int = 20):
        self.es = es
        self.index = indices.segments
        self.occ_retries = occ_retries

    # -- reads ---------------------------------------------------------------------
    def get(self, code: str) -> dict:
        """The segment, or NotFound (404)."""
        return self.read(code).doc

    def read(self, code: str) -> Versioned:
        """The segment with its version, for a conditional write; NotFound (404) if absent."""
        try:
            res = self.es.get(index=self.index, id=code)
        except NotFoundError:
            raise NotFound(f"Segment {code!r} not found.") from None
        return Versioned(res["_source"], res["_seq_no"], res["_primary_term"])

    def list(self, filters: Mapping[str, Any], *, tz: str = "UTC", sort: str = DEFAULT_SORT,
             page_size: int = 50, after: list | None = None) -> dict:
        """One page: {"items", "next_cursor", "total"}, total exact, cursor via search_after."""
        body: dict[str, Any] = {
            "query": {"bool": {"filter": list_filters(filters, tz)}},
            "sort": sort_clause(sort), "size": page_size + 1, "track_total_hits": True,
            "_source": {"excludes": ["members"]},  # an imported list may be 100k entries
        }
        if after:
            body["search_after"] = after
        res = self.es.search(index=self.index, **body)
        hits = res["hits"]["hits"]
        more = len(hits) > page_size
        hits = hits[:page_size]
        return {"items": [h["_source"] for h in hits],
                "next_cursor": encode_cursor(sort, hits[-1]["sort"]) if more else None,
                "total": res["hits"]["total"]["value"]}

    def scan(self, filters: Mapping[str, Any] | None = None, tz: str = "UTC") -> Iterator[dict]:
        """Every segment matching `filters` (list_filters keys), unordered: for the engine."""
        query = {"query": {"bool": {"filter": list_filters(filters or {}, tz)}}}
        for hit in helpers.scan(self.es, index=self.index, query=query, preserve_order=False):
            yield hit["_source"]

    # -- writes --------------------------------------------------------------------
    def create(self, doc: dict, refresh: str | None = None) -> dict:
        """Store a new segment; Conflict (409) when the code is taken."""
        doc = {**doc, "name_sort": doc["name"].casefold()}
        try:
            self.es.create(index=self.index, id=doc["code"], document=doc, refresh=refresh)
        except ConflictError:
            raise Conflict(f"A segment with code {doc['code']!r} exists.",
                           {"code": ["Already taken."]}) from None
        return doc

    def write(self, code: str, doc: dict, base: Versioned, refresh: str | None = None) -> dict:
        """Replace the segment if it is still at `base`'s version, else Conflict (409)."""
        doc = {**doc, "name_sort": doc["name"].casefold()}
        try:
            self.es.index(index=self.index, id=code, document=doc, if_seq_no=base.seq_no,
                          if_primary_term=base.primary_term, refresh=refresh)
        except ConflictError:
            raise Conflict(f"Segment {code!r} was changed concurrently; read it and retry.") from None
        return doc

    def patch(self, code: str, mutate: Mutation, refresh: str | None = None) -> dict:
        """Apply an edit: `mutate(current)` -> the new document, or None for no change.

        Written conditionally. If the write loses to an engine state write, the edit is
        re-applied on the fresh document; if it loses to another edit, Conflict (409):
        that edit's author saw a version this one never did.
        """
        base = self.read(code)
        for _ in range(self.occ_retries):
            new = mutate(base.doc)  # may raise Invalid / Conflict of its own: not a race
            if new is None:
                return base.doc
            try:
                return self.write(code, new, base, refresh)
            except Conflict:
                fresh = self.read(code)
                if _edited(base.doc) != _edited(fresh.doc):
                    raise
                base = fresh
        raise Conflict(f"Segment {code!r} is being changed too often; retry.")

    def set_state(self, code: str, refresh: str | None = None,
                  when: Callable[[dict], bool] | None = None, **state: Any) -> dict | None:
        """Record engine state (STATE_FIELDS only) under OCC with retries; never loses an edit.

        `when(current)` false: nothing is written and None returned (checked on the very
        version the write is conditional on). Raises NotFound if the segment was deleted
        meanwhile, Conflict if retries run out.
        """
        unknown = set(state) - STATE_FIELDS
        if unknown:
            raise ValueError(f"not engine state: {sorted(unknown)}")
        for _ in range(self.occ_retries):
            current = self.read(code)
            if when is not None and not when(current.doc):
                return None
            try:
                return self.write(code, {**current.doc, **state}, current, refresh)
            except Conflict:
                continue  # someone wrote in between: merge into their version
        raise Conflict(f"Segment {code!r}: state write kept losing the race.")

    def delete(self, code: str, refresh: str | None = None) -> dict:
        """Remove the segment document and return it; NotFound (404) if absent.

        Unconditional: a delete wins over a concurrent edit or state write.
        """
        current = self.get(code)
        try:
            self.es.delete(index=self.index, id=code, refresh=refresh)
        except NotFoundError:
            raise NotFound(f"Segment {code!r} not found.") from None
        return current


def _edited(doc: Mapping[str, Any]) -> dict:
    """The part of a document people edit (everything but engine state and timestamps)."""
    return {k: v for k, v in doc.items() if k not in STATE_FIELDS and k != "updated_at"}


def new_document(data: Mapping[str, Any], actor: str | None) -> dict:
    """A fresh segment document from validated create data: pending, empty, stamped now."""
    now = now_iso()
    members = data.get("members")
    return {**data, "locked": data["type"] == "static",
            "members_count": _members_count(members) if members else None,
            "members_not_found": None, "customers_count": 0, "status": "pending",
            "last_error": None, "failed_attempts": 0, "last_formed_at": None, "next_run_at": None,
            "created_at": now, "updated_at": now, "created_by": actor}


def _members_count(members: Mapping[str, list]) -> int:
    return len(members.get("emails", [])) + len(members.get("customer_ids", []))


def sort_clause(sort: str) -> list[dict]:
    """`-created_at` -> [{"created_at": "desc"}, {"code": "asc"}]: a total order for paging."""
    key = sort.lstrip("-")
    order = "desc" if sort.startswith("-") else "asc"
    clause = [{SORT_FIELDS[key]: {"order": order}}]
    return clause if key == "code" else clause + [{"code": {"order": "asc"}}]


def list_filters(f: Mapping[str, Any], tz: str) -> list[dict]:
    """Filter clauses of a segment list; absent keys do not filter."""
    clauses: list[dict] = []
    for key in ("active", "type", "status", "available_in_analytics", "user_group", "store"):
        if f.get(key) is not None:
            clauses.append({"term": {key: f[key]}})
    if f.get("q"):
        clauses.append(_text(f["q"]))
    counts = {op: f[key] for op, key in (("gte", "min_customers"), ("lte", "max_customers"))
              if f.get(key) is not None}
    if counts:
        clauses.append({"range": {"customers_count": counts}})
    created = {op: f[key] for op, key in (("gte", "created_from"), ("lte", "created_to"))
               if f.get(key)}
    if created:
        # A bare day is a calendar day in the configured zone; "lte" of a bare day
        # covers the whole day (Elasticsearch rounds missing parts up for lte).
        clauses.append({"range": {"created_at": {**created, "time_zone": tz}}})
    return clauses


def _text(q: str) -> dict:
    """Words of q, the last one as a prefix, in the name, description or code."""
    return {"bool": {"minimum_should_match": 1, "should": [
        {"multi_match": {"query": q, "type": "bool_prefix", "operator": "and",
                         "fields": ["name.text^3", "code.text^2", "description"]}},
        {"term": {"code": q}},
    ]}}
