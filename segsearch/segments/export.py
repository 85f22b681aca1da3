"""Streaming CSV export of a segment's members, constant memory at any size.

Members are read over one point-in-time whose `_shard_doc` order (the cheapest total order
Elasticsearch has) is cut into SLICES contiguous ranges (disjoint, together every member
once), each paged with search_after in its own thread, so the node serves the ranges on as
many search threads while this process encodes. `_source` is
limited to the exported columns and the response to the hits' `_source` and `sort`
(`filter_path`), which halves the JSON this process parses. Pages are taken from the
ranges in turn, each leaving as CSV text chunks of at most CHUNK_ROWS rows: the order is
the same for the same index state, but the contract specifies none.

Nothing accumulates: each range holds at most one page waiting and one being fetched, and
one page is being encoded, so memory is a few pages whatever the segment's size. The PIT
is closed in the generator's `finally`, once the range threads have stopped, so it is
released when the export ends, fails, or the client disconnects (the WSGI server closes
the response iterable, which closes the generator).
"""
from __future__ import annotations

import csv
import io
import queue
import re
import threading
from collections.abc import Generator, Iterator, Mapping
from typing import Any

from elasticsearch import Elasticsearch, NotFoundError

PAGE = 2000
# Two ranges read in parallel keep both cores of the node busy with fetches while this
# process encodes; more would only queue on the same cores (SEGSEARCH_EXPORT_SLICES).
SLICES = 2
# Rows per yielded chunk: big enough that the WSGI server's per-chunk cost vanishes,
# small enough that a chunk is a few hundred KB.
CHUNK_ROWS = 1000
# Between two fetches, i.e. while the client takes one page: generous for slow clients,
# and short enough that a PIT orphaned by a crashed process soon expires by itself.
KEEP_ALIVE = "5m"
# Only what the export reads: not `_index`, `_id` or `_score` of every hit.
_FILTER_PATH = ["pit_id", "hits.hits._source", "hits.hits.sort"]
# How often a range thread blocked on a full queue checks whether the export was closed.
_POLL_S = 0.1

# Exported as stored, in this order; user_groups comes last, as the union of both kinds,
# like the API shows it (views.customer_out).
_STORED = ("id", "type", "first_name", "last_name", "email", "phone", "sex", "birthday",
           "city", "country", "store", "source", "manager", "tags", "vip", "created_at",
           "email_subscribed", "sms_subscribed", "orders_count", "total_spent",
           "average_order_value", "first_order_at", "last_order_at")
COLUMNS = _STORED + ("user_groups",)
SOURCE = list(_STORED) + ["manual_user_groups", "segment_user_groups"]

# Spreadsheet programs run a cell starting with one of these as a formula (CSV/formula
# injection, e.g. =HYPERLINK(...) or a DDE call in a customer's name). Customer data comes
# from outside, so such a cell gets a leading single quote: shown as text, never run.
# Tab and carriage return are included too, as OWASP advises. A value made only of digits,
# spaces, parentheses, + and - (a phone number, a negative number) cannot call a function,
# so "+7 916 ..." stays as it is for the SMS tools that re-import these files.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^\+?[\d\s()\-.]+$")


def export_csv(es: Elasticsearch, index: str, code: str, page_size: int = PAGE,
               slices: int = SLICES) -> Iterator[str]:
    """The members of segment `code` as CSV text chunks: the header row, then the rows.

    The PIT is opened before this returns, so a backend failure is an ordinary error
    response rather than a broken stream; it is closed when the iterator ends or is closed.
    """
    rows = _member_csv(es, index, code, page_size, slices)
    header = next(rows)  # runs up to the first yield: the PIT is open from here on
    return _prepend(header, rows)


def _prepend(first: str, rest: Generator[str, None, None]) -> Iterator[str]:
    try:
        yield first
        yield from rest
    finally:
        rest.close()  # also when closed at `yield first`, before `yield from` began


def _member_csv(es: Elasticsearch, index: str, code: str, page_size: int,
                slices: int) -> Generator[str, None, None]:
    reader = _SlicedReader(es, index, {"term": {"segments": code}}, page_size, slices)  # opens the PIT
    try:
        yield _csv_chunk([COLUMNS])
        for hits in reader.pages():
            for start in range(0, len(hits), CHUNK_ROWS):
                yield _csv_chunk(map(_row, hits[start:start + CHUNK_ROWS]))
    finally:
        reader.close()


_END = object()  # a range thread's last item: its range is exhausted
# A `_shard_doc` value is the shard's index in the search (high 32 bits) and a Lucene doc id
# (low 32 bits, a Java int). A cut between two shards' values can land on a doc part over
# 2^31 - 1, which the node reads as a negative doc id: `search_after` it then returns the
# whole shard again (found on a 3-shard index: members exported twice).
DOC_MAX = 2**31 - 1


def _valid_cut(value: int) -> int:
    """The same place in the order, with a doc part the node reads as a doc id: past the
    last possible doc of that shard when the arithmetic cut lies beyond it."""
    shard, doc = value >> 32, value & 0xFFFFFFFF
    return (shard << 32) | min(doc, DOC_MAX)


class _SlicedReader:
    """The hits of a query, page by page, over one PIT read as `slices` ranges in parallel.

    The members' `_shard_doc` values (shard and Lucene doc id: a total order) are cut into
    `slices` contiguous ranges, each paged by its own thread into a queue of one page, so a
    range fetches its next page while the caller encodes; the caller takes a page from each
    range in turn. Contiguous ranges rather than Elasticsearch's `slice` (doc id modulo the
    slice count): with interleaved slices every slice decompresses every stored-fields block,
    with ranges each block is read by one thread. A failed fetch is re-raised in the caller;
    `close` stops the threads and releases the PIT.
    """

    def __init__(self, es: Elasticsearch, index: str, query: dict, page_size: int, slices: int):
        self.es, self.query, self.page_size = es, query, page_size
        self.slices = max(1, slices)
        # The same preference each time reads the same copy of each shard while the cluster
        # is stable: copies of one shard number their documents differently, so without it
        # two exports of an unchanged segment could come out in different orders.
        self.pit = es.open_point_in_time(index=index, keep_alive=KEEP_ALIVE, preference="csv-export")["id"]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def pages(self) -> Iterator[list[dict]]:
        """Non-empty pages of hits until every range is exhausted."""
        ranges = self._ranges()
        queues: list[queue.Queue] = [queue.Queue(maxsize=1) for _ in ranges]
        for n, (q, (after, upto)) in enumerate(zip(queues, ranges)):
            thread = threading.Thread(target=self._read_range, args=(after, upto, q), daemon=True,
                                      name=f"csv-export-{n}")
            self._threads.append(thread)
            thread.start()
        while queues:
            for q in list(queues):
                item = q.get()
                if item is _END:
                    queues.remove(q)
                elif isinstance(item, BaseException):
                    raise item
                else:
                    yield item

    def _ranges(self) -> list[tuple[int | None, int | None]]:
        """(after, up to) `_shard_doc` bounds of each range: after is exclusive, up to inclusive."""
        if self.slices == 1:
            return [(None, None)]
        first, last = self._edge("asc"), self._edge("desc")
        if first is None or last is None or last - first < self.slices:
            return [(None, None)]  # too few members to be worth splitting
        cuts = [_valid_cut(first + (last - first) * k // self.slices) for k in range(1, self.slices)]
        return list(zip([None, *cuts], [*cuts, None]))

    def _edge(self, order: str) -> int | None:
        """The first (asc) or last (desc) member's `_shard_doc`, None without members."""
        res = self.es.search(pit={"id": self.pit, "keep_alive": KEEP_ALIVE}, query=self.query,
                             size=1, sort=[{"_shard_doc": order}], source=False,
                             track_total_hits=False, filter_path=["hits.hits.sort"])
        hits = res.get("hits", {}).get("hits", [])
        return hits[0]["sort"][0] if hits else None

    def _read_range(self, start: int | None, upto: int | None, out: queue.Queue) -> None:
        try:
            after = None if start is None else [start]
            while not self._stop.is_set():
                hits = self._fetch(after)
                full = len(hits) == self.page_size
                if upto is not None and hits and hits[-1]["sort"][0] > upto:
                    hits, full = [h for h in hits if h["sort"][0] <= upto], False  # the range's end
                if hits:
                    self._put(out, hits)
                if not full:
                    break
                after = hits[-1]["sort"]
            self._put(out, _END)
        except Exception as err:  # handed to the caller, which raises it
            self._put(out, err)

    def _put(self, out: queue.Queue, item: Any) -> None:
        while not self._stop.is_set():
            try:
                out.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                continue

    def _fetch(self, after: list | None) -> list[dict]:
        extra: dict[str, Any] = {"search_after": after} if after else {}
        res = self.es.search(pit={"id": self.pit, "keep_alive": KEEP_ALIVE}, query=self.query,
                             size=self.page_size, sort=[{"_shard_doc": "asc"}],
                             source={"includes": SOURCE}, track_total_hits=False,
                             filter_path=_FILTER_PATH, **extra)
        self.pit = res.get("pit_id", self.pit)  # Elasticsearch may hand out a renewed id
        # filter_path drops an empty `hits` object altogether
        return res.get("hits", {}).get("hits", [])

    def close(self) -> None:
        """Release the PIT once the range threads (a fetch in flight uses it) have ended."""
        self._stop.set()
        for thread in self._threads:
            thread.join()
        _close_pit(self.es, self.pit)


def _close_pit(es: Elasticsearch, pit: str) -> None:
    try:
        es.close_point_in_time(id=pit)
    except NotFoundError:
        pass  # already expired: nothing to release


def _csv_chunk(rows: Any) -> str:
    buf = io.StringIO()
    # "\r\n" line ends, as RFC 4180 and spreadsheet programs expect; QUOTE_MINIMAL quotes
    # any cell holding a comma, quote or line break.
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    return buf.getvalue()


# Cells the csv writer already writes as cell() would: null (empty), int and float (repr).
_AS_IS = frozenset({type(None), int, float})
_BOOL_TEXT = {True: "true", False: "false"}
_FORMULA_CHARS = frozenset(_FORMULA_START)


def _row(hit: Mapping[str, Any]) -> list:
    """csv_row of a hit, without a call per cell for the common cells: a string whose first
    character no spreadsheet would run, a null or a number go as they are (the csv writer
    writes them as cell() would), a boolean through a table; the rest through cell()."""
    doc = hit["_source"]
    row = [v if (c := v.__class__) is str and v[:1] not in _FORMULA_CHARS or c in _AS_IS
           else _BOOL_TEXT[v] if c is bool else cell(v)
           for v in map(doc.get, _STORED)]
    manual, granted = doc.get("manual_user_groups"), doc.get("segment_user_groups")
    row.append(cell(sorted(set(manual or ()) | set(granted or ()))) if manual or granted else "")
    return row


def csv_row(doc: Mapping[str, Any]) -> list[str]:
    """One customer document as the exported cells, in COLUMNS order."""
    groups = set(doc.get("manual_user_groups") or ()) | set(doc.get("segment_user_groups") or ())
    row = [cell(doc.get(column)) for column in _STORED]
    row.append(cell(sorted(groups)))
    return row


def cell(value: Any) -> str:
    """A value as CSV cell text: lists joined by ';', booleans as true/false, null empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)  # our own numbers (counts, sums): never a formula
    if isinstance(value, list):
        value = ";".join(str(v) for v in value)
    return defuse(str(value))


def defuse(text: str) -> str:
    """Guard against CSV formula injection: a cell a spreadsheet would evaluate gets a
    leading single quote, so it is displayed as the text it is."""
    if not text.startswith(_FORMULA_START) or _PLAIN_NUMBER.match(text):
        return text
    return "'" + text
