"""Membership write-back by difference.

The target membership of a segment is a query (its compiled rule, its imported list, or
nothing when it is expired or deleted). Who enters is `target AND NOT segments:code`, who
leaves is `segments:code AND NOT target`: two queries, streamed with PIT + search_after,
so a recalculation where nothing changed reads two empty result sets and writes nothing.

Each changed customer is rewritten under optimistic concurrency (the feed does the same),
so neither a feed write nor a membership change is lost. A customer whose document moved
under us may no longer match: after the writes the index is refreshed and the two diff
queries run again, until they are empty (bounded passes).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

from elasticsearch import Elasticsearch

from segsearch.feed.service import Feed

PAGE = 1000
MEMBERSHIP = ["segments", "manual_user_groups", "segment_user_groups", "user_groups"]
MAX_PASSES = 5
Progress = Callable[[float], None]
Record = Callable[[list[str], list[str]], None]


@dataclass
class Change:
    """What one formation did."""
    entered: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    passes: int = 0


def iter_ids(es: Elasticsearch, index: str, query: dict) -> Iterator[str]:
    """Every matching id, PIT + search_after: consistent and constant-memory at any size."""
    pit = es.open_point_in_time(index=index, keep_alive="2m")["id"]
    try:
        after = None
        while True:
            kwargs: dict[str, Any] = {"search_after": after} if after else {}
            res = es.search(pit={"id": pit, "keep_alive": "2m"}, query=query, size=PAGE,
                            sort=[{"_shard_doc": "asc"}], source=False, track_total_hits=False,
                            **kwargs)
            hits = res["hits"]["hits"]
            pit = res.get("pit_id", pit)
            for hit in hits:
                yield hit["_id"]
            if len(hits) < PAGE:
                return
            after = hits[-1]["sort"]
    finally:
        es.close_point_in_time(id=pit)


def user_groups_of(doc: Mapping, granted: Mapping[str, str | None]) -> dict:
    """The seeds' four rules: segment groups from every segment the customer is in,
    hand-assigned ones kept apart, user_groups their union, never a duplicate."""
    segment_groups = sorted({g for c in doc.get("segments", []) if (g := granted.get(c))})
    manual = sorted(set(doc.get("manual_user_groups", [])))
    return {"segment_user_groups": segment_groups, "manual_user_groups": manual,
            "user_groups": sorted(set(segment_groups) | set(manual))}


class MembershipWriter:
    """Moves customers in and out of one segment and keeps their user groups right."""

    def __init__(self, feed: Feed, granted: Mapping[str, str | None]):
        self.feed = feed
        self.es = feed.es
        self.index = feed.indices.customers
        self.granted = granted  # segment code -> the user group it grants

    def apply(self, code: str, target: dict | None, progress: Progress | None = None,
              record: Record | None = None) -> Change:
        """Make the members of `code` exactly the customers matching `target` (None: none).

        `record(entered, left)` is called after each chunk with the ids really written.
        """
        change = Change()
        member = {"term": {"segments": code}}
        target = target or {"match_none": {}}
        for change.passes in range(1, MAX_PASSES + 1):
            entering = list(iter_ids(self.es, self.index, {"bool": {"filter": [target], "must_not": [member]}}))
            leaving = list(iter_ids(self.es, self.index, {"bool": {"filter": [member], "must_not": [target]}}))
            if not entering and not leaving:
                break
            entered, left = self._write(code, entering, leaving, progress, record)
            change.entered += entered
            change.left += left
            self.es.indices.refresh(index=self.index)
        return change


    def _write(self, code: str, entering: list[str], leaving: list[str], progress: Progress | None,
               record: Record | None) -> tuple[list[str], list[str]]:
        todo = [(cid, True) for cid in entering] + [(cid, False) for cid in leaving]
        entered: list[str] = []
        left: list[str] = []
        for start in range(0, len(todo), PAGE):
            chunk = todo[start:start + PAGE]
            mutations = {cid: self._mutation(code, joins) for cid, joins in chunk}
            failed = self.feed.patch_customers(mutations, MEMBERSHIP)
            ins = [cid for cid, joins in chunk if joins and cid not in failed]
            outs = [cid for cid, joins in chunk if not joins and cid not in failed]
            entered += ins
            left += outs
            if record:
                record(ins, outs)
            if progress:
                progress((start + len(chunk)) / len(todo))
        return entered, left

    def _mutation(self, code: str, joins: bool):
        def mutate(doc: dict) -> dict:
            segments = set(doc.get("segments", []))
            (segments.add if joins else segments.discard)(code)
            new = {**doc, "segments": sorted(segments)}
            return {"segments": new["segments"], **user_groups_of(new, self.granted)}
        return mutate
