"""Membership write-back by difference.

The target membership of a segment is a query (its compiled rule, its imported list, or
nothing when it is expired or deleted). Who enters is `target AND NOT segments:code`, who
leaves is `segments:code AND NOT target`: two queries, streamed with PIT + search_after,
so a recalculation where nothing changed reads two empty result sets and writes nothing.

Each changed customer is rewritten under optimistic concurrency (the feed does the same),
so neither a feed write nor a membership change is lost. A customer whose document moved
under us may no longer match: after the writes the index is refreshed and the two diff
queries run again, until they are empty (bounded passes).

Memory is constant in the segment's size: the ids stream from PIT pages into chunks,
each chunk is written and then handed to `record(entered, left)` (history, webhooks,
propagation), and only counts are kept. Writes overlap: while `streams` chunks are
being written by a small thread pool, the next page of ids is read. Parallel streams
are safe because each customer is in one chunk of a pass and every write is
conditional on the document's sequence number. Chunks are recorded in the order they
were read (entries before leaves), and a chunk that landed is recorded even when a
later one fails, so history is written exactly once per real change.
"""
from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from elasticsearch import Elasticsearch

from segsearch.feed.failures import Failure
from segsearch.feed.service import Feed
from segsearch.segments.pacing import NEVER, Pacer

log = logging.getLogger(__name__)

PAGE = 1000   # ids per PIT page
CHUNK = 1000  # customers per conditional write (one mget + one bulk)
STREAMS = 1   # chunks written at once (SEGSEARCH_FORMATION_STREAMS): see the README
MEMBERSHIP = ["segments", "manual_user_groups", "segment_user_groups", "user_groups"]
MAX_PASSES = 5
Progress = Callable[[float], None]
Record = Callable[[list[str], list[str]], None]
Inflight = tuple[bool, list[str], "Future[dict[str, Failure]]"]
Pages = Generator[list[str], None, None]


@dataclass
class Change:
    """What one formation did: how many entered and left (the ids went to `record`)."""
    entered: int = 0
    left: int = 0
    passes: int = 0


def iter_pages(es: Elasticsearch, index: str, query: dict, size: int = PAGE) -> Pages:
    """The matching ids page by page, PIT + search_after: consistent and constant-memory."""
    pit = es.open_point_in_time(index=index, keep_alive="2m")["id"]
    try:
        after = None
        while True:
            kwargs: dict[str, Any] = {"search_after": after} if after else {}
            res = es.search(pit={"id": pit, "keep_alive": "2m"}, query=query, size=size,
                            sort=[{"_shard_doc": "asc"}], source=False, track_total_hits=False,
                            **kwargs)
            hits = res["hits"]["hits"]
            pit = res.get("pit_id", pit)
            if hits:
                yield [hit["_id"] for hit in hits]
            if len(hits) < size:
                return
            after = hits[-1]["sort"]
    finally:
        es.close_point_in_time(id=pit)


def iter_ids(es: Elasticsearch, index: str, query: dict) -> Iterator[str]:
    """Every matching id (see iter_pages)."""
    with closing(iter_pages(es, index, query)) as pages:
        for page in pages:
            yield from page


def user_groups_of(doc: Mapping, granted: Mapping[str, str | None]) -> dict:
    """The seeds' four rules: segment groups from every segment the customer is in,
    hand-assigned ones kept apart, user_groups their union, never a duplicate."""
    segment_groups = sorted({g for c in doc.get("segments", []) if (g := granted.get(c))})
    manual = sorted(set(doc.get("manual_user_groups", [])))
    return {"segment_user_groups": segment_groups, "manual_user_groups": manual,
            "user_groups": sorted(set(segment_groups) | set(manual))}


class MembershipWriter:
    """Moves customers in and out of one segment and keeps their user groups right."""

    def __init__(self, feed: Feed, granted: Mapping[str, str | None], streams: int = STREAMS,
                 chunk: int = CHUNK, pacer: Pacer = NEVER):
        self.feed = feed
        self.es = feed.es
        self.index = feed.indices.customers
        self.granted = granted  # segment code -> the user group it grants
        self.streams = max(1, streams)
        self.chunk = max(1, chunk)
        self.pacer = pacer

    def apply(self, code: str, target: dict | None, progress: Progress | None = None,
              record: Record | None = None) -> Change:
        """Make the members of `code` exactly the customers matching `target` (None: none).

        `record(entered, left)` is called after each chunk with the ids really written,
        in this thread, chunk after chunk in the order they were read.
        """
        change = Change()
        member = {"term": {"segments": code}}
        target = target or {"match_none": {}}
        diffs = [(True, {"bool": {"filter": [target], "must_not": [member]}}),
                 (False, {"bool": {"filter": [member], "must_not": [target]}})]
        # Every count below, and the caller's count of the members, then reads a refreshed
        # view: with replicas, unrefreshed copies differ and each read may reach another.
        self.es.indices.refresh(index=self.index)
        with ThreadPoolExecutor(self.streams, thread_name_prefix=f"formation-{code}") as pool:
            for change.passes in range(1, MAX_PASSES + 1):
                # Counting first costs one evaluation of each query and gives the pass a
                # total for its progress; an empty diff reads no page at all.
                todo = [(joins, query, n) for joins, query in diffs if (n := self._count(query))]
                if not todo:
                    break
                _Pass(self, code, pool, sum(n for _, _, n in todo), change, progress,
                      record).run([(joins, query) for joins, query, _ in todo])
                self.es.indices.refresh(index=self.index)
        return change

    def _count(self, query: dict) -> int:
        return int(self.es.count(index=self.index, query=query)["count"])

    def chunks(self, query: dict) -> Pages:
        """The ids matching `query` in write-sized chunks."""
        with closing(iter_pages(self.es, self.index, query, max(PAGE, self.chunk))) as pages:
            for page in pages:
                for start in range(0, len(page), self.chunk):
                    yield page[start:start + self.chunk]

    def write(self, code: str, joins: bool, ids: list[str]) -> dict[str, Failure]:
        """Add `code` to (or remove it from) these customers; {id: Failure} of those not written."""
        mutate = self._mutation(code, joins)
        started = time.monotonic()
        failed = self.feed.patch_customers(dict.fromkeys(ids, mutate), MEMBERSHIP)
        # The pause holds this stream, so no chunk is written meanwhile (segments.pacing).
        self.pacer.after(time.monotonic() - started)
        return failed

    def _mutation(self, code: str, joins: bool):
        def mutate(doc: dict) -> dict:
            segments = set(doc.get("segments", []))
            (segments.add if joins else segments.discard)(code)
            new = {**doc, "segments": sorted(segments)}
            return {"segments": new["segments"], **user_groups_of(new, self.granted)}
        return mutate


class _Pass:
    """One pass of the diff: chunks read here, written by the pool, recorded here in order."""

    def __init__(self, writer: MembershipWriter, code: str, pool: ThreadPoolExecutor, total: int,
                 change: Change, progress: Progress | None, record: Record | None):
        self.writer, self.code, self.pool, self.total = writer, code, pool, total
        self.change, self.progress, self.record = change, progress, record
        self.inflight: deque[Inflight] = deque()
        self.done = 0

    def run(self, diffs: list[tuple[bool, dict]]) -> None:
        try:
            for joins, query in diffs:
                with closing(self.writer.chunks(query)) as chunks:
                    for ids in chunks:
                        self.inflight.append((joins, ids, self.pool.submit(
                            self.writer.write, self.code, joins, ids)))
                        # One chunk waits behind the busy streams while the next page is read.
                        if len(self.inflight) > self.writer.streams:
                            self._finish(*self.inflight.popleft())
            while self.inflight:
                self._finish(*self.inflight.popleft())
        except BaseException:
            self._salvage()
            raise

    def _finish(self, joins: bool, ids: list[str], future: Future[dict[str, Failure]]) -> None:
        failed = future.result()
        written = [cid for cid in ids if cid not in failed]
        if joins:
            self.change.entered += len(written)
        else:
            self.change.left += len(written)
        if self.record:
            self.record(*((written, []) if joins else ([], written)))
        self.done += len(ids)
        if self.progress:
            self.progress(min(1.0, self.done / self.total))

    def _salvage(self) -> None:
        """A chunk failed: still record every other chunk that landed (its customers will
        not be in the next diff, so this is their only chance of a history event)."""
        while self.inflight:
            joins, ids, future = self.inflight.popleft()
            if future.exception() is not None:
                continue
            try:
                self._finish(joins, ids, future)
            except Exception:  # noqa: BLE001 - the first error is the one raised
                log.exception("a written chunk of segment %r was not recorded", self.code)
