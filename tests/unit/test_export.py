"""The CSV export's reading and encoding without a node: a fake client that pages PIT
searches on `_shard_doc` the way Elasticsearch does, and the fast row encoder checked against
csv_row, the cell-by-cell definition of the exported text."""
from __future__ import annotations

import csv
import io
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segsearch.segments import export
from segsearch.segments.export import COLUMNS, SOURCE, csv_row, export_csv


class FakeEs:
    """`docs` behind one PIT, a doc's number as its `_shard_doc`, paged like the node pages:
    ascending or descending, after `search_after`."""

    def __init__(self, docs: list[dict], fail_after: int | None = None):
        self.docs, self.fail_after = docs, fail_after
        self.opened: list[str] = []
        self.closed: list[str] = []
        self.searches = 0
        self._lock = threading.Lock()

    def open_point_in_time(self, index: str, keep_alive: str) -> dict:
        self.opened.append(f"pit-{len(self.opened)}")
        return {"id": self.opened[-1]}

    def close_point_in_time(self, id: str) -> dict:
        self.closed.append(id)
        return {"succeeded": True}

    def search(self, *, pit, query, size, sort, source, track_total_hits, filter_path,
               search_after=None) -> dict:
        assert pit["id"] not in self.closed and "hits.hits.sort" in filter_path
        with self._lock:
            self.searches += 1
        if search_after is not None and search_after == [self.fail_after]:
            raise RuntimeError(f"page after {self.fail_after} failed")
        if sort == [{"_shard_doc": "desc"}]:
            assert search_after is None and source is False
            mine = list(range(len(self.docs)))[::-1][:size]
        else:
            assert sort == [{"_shard_doc": "asc"}] and source in (False, {"includes": SOURCE})
            after = search_after[0] if search_after else -1
            mine = list(range(after + 1, len(self.docs)))[:size]
        hits = [{"_source": self.docs[i], "sort": [i]} for i in mine]
        return {"pit_id": pit["id"], "hits": {"hits": hits}} if hits else {"pit_id": pit["id"]}


def people(n: int) -> list[dict]:
    return [{"id": f"c{i:05d}", "first_name": f"N{i}", "vip": i % 2 == 0, "tags": ["a", "b"]}
            for i in range(n)]


def parse(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def export_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("csv-export")]


@pytest.mark.parametrize("n, page, slices", [(0, 10, 2), (1, 10, 2), (25, 10, 1), (25, 10, 2),
                                             (25, 1, 3), (2500, 1000, 2), (2001, 2000, 2)])
def test_every_member_once_and_the_same_order_each_time(n, page, slices):
    es = FakeEs(people(n))
    text = "".join(export_csv(es, "customers", "seg", page_size=page, slices=slices))
    assert text.startswith(",".join(COLUMNS) + "\r\n")
    ids = [row["id"] for row in parse(text)]
    assert sorted(ids) == [f"c{i:05d}" for i in range(n)]
    assert es.opened == es.closed and len(es.opened) == 1
    again = "".join(export_csv(es, "customers", "seg", page_size=page, slices=slices))
    assert again == text
    assert not export_threads()


def test_chunks_are_bounded_by_chunk_rows(monkeypatch):
    monkeypatch.setattr(export, "CHUNK_ROWS", 300)
    chunks = list(export_csv(FakeEs(people(2000)), "customers", "seg", page_size=1000, slices=2))
    assert len(chunks) == 1 + 2 * 4  # header, then 300+300+300+100 rows per page of each range
    assert sum(chunk.count("\r\n") for chunk in chunks[1:]) == 2000


def test_a_failed_fetch_is_raised_and_the_pit_released():
    es = FakeEs(people(100), fail_after=59)  # the second range (50-99): its second page
    chunks = export_csv(es, "customers", "seg", page_size=10, slices=2)
    with pytest.raises(RuntimeError, match="after 59 failed"):
        for _ in chunks:
            pass
    assert es.closed == es.opened and not export_threads()


def test_abandoned_export_stops_its_threads_and_releases_the_pit():
    es = FakeEs(people(5000))
    chunks = export_csv(es, "customers", "seg", page_size=100, slices=2)
    next(chunks), next(chunks)  # the header and the first rows: a client that went away
    chunks.close()
    assert es.closed == es.opened and not export_threads()
    assert es.searches < 10  # the two edges, then each range its queued page and the next
    export_csv(es, "customers", "seg").close()  # closed before the first byte left
    assert es.closed == es.opened and len(es.opened) == 2


# -- the rows: the fast encoder writes exactly what csv_row defines -----------------------
_text = st.one_of(st.sampled_from(["=1+2", "+7 916 000-00-00", "-2+3", "@SUM(A1)", "\tx", "\rx",
                                   "a,b", 'say "hi"', "two\nlines", "", "Ольга", "-5", "+"]),
                  st.text(max_size=12))
_value = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                   st.floats(allow_nan=False, allow_infinity=False), _text,
                   st.lists(_text, max_size=3))
_groups = st.one_of(st.none(), st.lists(_text, max_size=3))  # the feed writes lists of groups
_doc = st.builds(lambda cells, groups: {**cells, **groups},
                 st.dictionaries(st.sampled_from(SOURCE[:-2]), _value),
                 st.dictionaries(st.sampled_from(SOURCE[-2:]), _groups))


def _encode(rows: list[list]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    return buf.getvalue()


@settings(max_examples=100, deadline=None)
@given(st.lists(_doc, max_size=5))
def test_fast_rows_equal_csv_row(docs):
    fast = export._csv_chunk(map(export._row, [{"_source": d} for d in docs]))
    assert fast == _encode([csv_row(d) for d in docs])


def test_formula_guard_and_cells():
    row = dict(zip(COLUMNS, csv_row({
        "id": "c1", "first_name": "=HYPERLINK(\"x\")", "phone": "+7 916 000-00-00",
        "tags": ["=cmd", "b;c"], "vip": True, "email_subscribed": False, "orders_count": 2,
        "total_spent": 37.5, "manual_user_groups": ["Loyal"], "segment_user_groups": ["VIP", "Loyal"]})))
    assert row["first_name"] == "'=HYPERLINK(\"x\")" and row["phone"] == "+7 916 000-00-00"
    assert row["tags"] == "'=cmd;b;c" and (row["vip"], row["email_subscribed"]) == ("true", "false")
    assert (row["orders_count"], row["total_spent"], row["sms_subscribed"]) == ("2", "37.5", "")
    assert row["user_groups"] == "Loyal;VIP"
