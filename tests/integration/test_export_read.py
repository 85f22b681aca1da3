"""The CSV export's reading on the real node: every member once, in the same order each
time, whatever the page size and the number of ranges read in parallel; chunks bounded;
a failed fetch raised with the PIT released; an abandoned export stops its threads."""
from __future__ import annotations

import csv
import io
import threading

import pytest
from elasticsearch import Elasticsearch, helpers

from segsearch.segments import export
from segsearch.segments.export import COLUMNS, export_csv

pytestmark = pytest.mark.integration


def people(es: Elasticsearch, index: str, n: int, others: int = 0) -> None:
    """n members of segment `seg`, and `others` customers who are not, interleaved."""
    docs = [{"_index": index, "_id": f"c{i:05d}", "_source": {
        "id": f"c{i:05d}", "first_name": f"N{i}", "vip": i % 2 == 0, "tags": ["a", "b"],
        "segments": ["seg"] if i < n else []}} for i in range(n + others)]
    docs.sort(key=lambda d: d["_id"][::-1])  # members spread over the doc ids, not first
    helpers.bulk(es, docs, refresh=True)


def parse(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def export_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("csv-export")]


def open_pits(es: Elasticsearch) -> int:
    stats = es.nodes.stats(metric="indices", index_metric="search")
    return sum(node["indices"]["search"]["open_contexts"] for node in stats["nodes"].values())


@pytest.mark.parametrize("n, page, slices", [(0, 10, 2), (1, 10, 2), (25, 10, 1), (25, 10, 2),
                                             (25, 1, 3), (2500, 1000, 2), (2001, 2000, 2)])
def test_every_member_once_and_the_same_order_each_time(es, indices, n, page, slices):
    people(es, indices.customers, n, others=n // 2 + 3)
    # The order follows the index's Lucene doc ids: one segment, so no background merge
    # renumbers them between the two exports.
    es.indices.forcemerge(index=indices.customers, max_num_segments=1)
    pits = open_pits(es)
    text = "".join(export_csv(es, indices.customers, "seg", page_size=page, slices=slices))
    assert text.startswith(",".join(COLUMNS) + "\r\n")
    assert sorted(row["id"] for row in parse(text)) == [f"c{i:05d}" for i in range(n)]
    assert open_pits(es) == pits and not export_threads()
    assert "".join(export_csv(es, indices.customers, "seg", page_size=page, slices=slices)) == text


def test_chunks_are_bounded_by_chunk_rows(es, indices, monkeypatch):
    monkeypatch.setattr(export, "CHUNK_ROWS", 300)
    people(es, indices.customers, 2000)
    chunks = list(export_csv(es, indices.customers, "seg", page_size=1000, slices=2))
    assert all(chunk.count("\r\n") <= 300 for chunk in chunks[1:])
    assert sum(chunk.count("\r\n") for chunk in chunks[1:]) == 2000


class FailingSearch:
    """The real client, whose `fail_at`-th search raises (a node lost mid-export)."""

    def __init__(self, es: Elasticsearch, fail_at: int):
        self.es, self.fail_at, self.searches = es, fail_at, 0
        self._lock = threading.Lock()

    def search(self, **kwargs):
        with self._lock:
            self.searches += 1
            if self.searches == self.fail_at:
                raise RuntimeError("the node went away")
        return self.es.search(**kwargs)

    def __getattr__(self, name):
        return getattr(self.es, name)


def test_a_failed_fetch_is_raised_and_the_pit_released(es, indices):
    people(es, indices.customers, 100)
    pits = open_pits(es)
    client = FailingSearch(es, fail_at=5)  # two edge searches, then pages of the two ranges
    with pytest.raises(RuntimeError, match="went away"):
        for _ in export_csv(client, indices.customers, "seg", page_size=10, slices=2):
            pass
    assert open_pits(es) == pits and not export_threads()


def test_abandoned_export_stops_its_threads_and_releases_the_pit(es, indices):
    people(es, indices.customers, 5000)
    pits = open_pits(es)
    client = FailingSearch(es, fail_at=0)  # never fails: counts the searches
    chunks = export_csv(client, indices.customers, "seg", page_size=100, slices=2)
    next(chunks), next(chunks)  # the header and the first rows: a client that went away
    chunks.close()
    assert open_pits(es) == pits and not export_threads()
    assert client.searches < 10  # the two edges, then each range its queued page and the next
    export_csv(es, indices.customers, "seg").close()  # closed before the first byte left
    assert open_pits(es) == pits
