"""Membership write-back by difference and the seeds' four user-group rules."""
from __future__ import annotations

import threading

import pytest

from segsearch.segments.membership import MembershipWriter, iter_ids

pytestmark = pytest.mark.integration

CUSTOMERS = [{"id": f"c{i}", "city": "Moscow" if i < 4 else "Kazan"} for i in range(10)]
MOSCOW = {"term": {"city": "Moscow"}}
KAZAN = {"term": {"city": "Kazan"}}


@pytest.fixture
def loaded(feed):
    feed.import_dataset(customers=CUSTOMERS)
    return feed


def doc(feed, cid):
    return feed.get_customer(cid)


class Recorded:
    """What `record` was told, chunk by chunk."""

    def __init__(self) -> None:
        self.chunks: list[tuple[list[str], list[str]]] = []

    def __call__(self, entered: list[str], left: list[str]) -> None:
        self.chunks.append((list(entered), list(left)))

    def entered(self) -> list[str]:
        return sorted(cid for entered, _ in self.chunks for cid in entered)

    def left(self) -> list[str]:
        return sorted(cid for _, left in self.chunks for cid in left)


def test_enter_then_nothing_to_write_then_leave(loaded):
    writer = MembershipWriter(loaded, {"moscow": "VIP"})
    recorded = Recorded()
    first = writer.apply("moscow", MOSCOW, record=recorded)
    assert recorded.entered() == ["c0", "c1", "c2", "c3"] and recorded.left() == []
    assert (first.entered, first.left) == (4, 0)
    stamp = doc(loaded, "c0")["updated_at"]
    recorded = Recorded()
    again = writer.apply("moscow", MOSCOW, record=recorded)
    assert (again.entered, again.left, again.passes) == (0, 0, 1) and recorded.chunks == []
    assert doc(loaded, "c0")["updated_at"] == stamp  # nothing written
    assert doc(loaded, "c0")["user_groups"] == ["VIP"]
    recorded = Recorded()
    gone = writer.apply("moscow", None, record=recorded)  # expired or deleted: everyone leaves
    assert recorded.left() == ["c0", "c1", "c2", "c3"] and gone.left == 4
    c0 = doc(loaded, "c0")
    assert c0["segments"] == [] and c0["user_groups"] == [] and c0["segment_user_groups"] == []


def test_iter_ids_pages_beyond_one_page(feed):
    feed.import_dataset(customers=[{"id": f"x{i}"} for i in range(2500)])
    assert len(set(iter_ids(feed.es, feed.indices.customers, {"match_all": {}}))) == 2500


def test_user_group_rules(loaded, api):
    granted = {"moscow": "VIP", "all": "VIP", "kazan": "Regional"}
    writer = MembershipWriter(loaded, granted)
    # 1. a customer inherits the user group of every segment it belongs to
    writer.apply("moscow", MOSCOW)
    writer.apply("kazan", KAZAN)
    assert doc(loaded, "c0")["user_groups"] == ["VIP"]
    assert doc(loaded, "c5")["user_groups"] == ["Regional"]
    # 2./3. a group inherited and also assigned by hand is listed once
    r = api.post("/api/v1/customers/c0/user-groups/VIP")
    assert r.status_code == 200 and r.json["user_groups"] == ["VIP"]
    assert r.json["manual_user_groups"] == ["VIP"] and r.json["segment_user_groups"] == ["VIP"]
    # 4. removing the hand-assigned group keeps it while a segment grants it
    r = api.delete("/api/v1/customers/c0/user-groups/VIP")
    assert r.json["user_groups"] == ["VIP"] and r.json["manual_user_groups"] == []
    # leaving a segment keeps the group while another segment grants it ...
    writer.apply("all", {"match_all": {}})
    writer.apply("moscow", None)
    assert doc(loaded, "c0")["user_groups"] == ["VIP"]
    # ... or while it is assigned by hand
    api.post("/api/v1/customers/c5/user-groups/Regional")
    writer.apply("kazan", None)
    assert doc(loaded, "c5")["user_groups"] == ["Regional", "VIP"]
    writer.apply("all", None)
    assert doc(loaded, "c0")["user_groups"] == []
    assert doc(loaded, "c5")["user_groups"] == ["Regional"]


def test_parallel_chunks_record_every_customer_once_entries_first(feed):
    """Small chunks over two streams: every id recorded once, in read order, with
    progress rising to 1 and the counts matching what was recorded."""
    feed.import_dataset(customers=[{"id": f"p{i:04d}", "city": "Moscow" if i % 3 else "Kazan"}
                                   for i in range(2100)])
    writer = MembershipWriter(feed, {}, streams=2, chunk=250)
    writer.apply("kazan", KAZAN)  # 700 members
    recorded, progress = Recorded(), []
    change = writer.apply("kazan", {"match_all": {}}, progress.append, recorded)
    moscow = sorted(f"p{i:04d}" for i in range(2100) if i % 3)
    assert (change.entered, change.left) == (1400, 0) and recorded.entered() == moscow
    assert len(recorded.chunks) == 6 and all(len(e) <= 250 for e, _ in recorded.chunks)
    assert progress == sorted(progress) and progress[-1] == 1.0
    recorded = Recorded()
    change = writer.apply("kazan", KAZAN, record=recorded)
    assert (change.entered, change.left) == (0, 1400) and recorded.left() == moscow
    assert all(not e for e, _ in recorded.chunks)


def test_a_failed_chunk_still_records_the_chunks_that_landed(loaded, monkeypatch):
    loaded.import_dataset(customers=[{"id": f"f{i:04d}", "city": "Moscow"} for i in range(1000)])
    writer = MembershipWriter(loaded, {}, streams=2, chunk=100)
    real_write, calls = writer.write, []

    def write(code, joins, ids):
        calls.append(ids)
        if len(calls) == 3:
            raise RuntimeError("node lost")
        return real_write(code, joins, ids)

    monkeypatch.setattr(writer, "write", write)
    recorded = Recorded()
    with pytest.raises(RuntimeError):
        writer.apply("moscow", MOSCOW, record=recorded)
    loaded.es.indices.refresh(index=loaded.indices.customers)
    members = set(iter_ids(loaded.es, loaded.indices.customers, {"term": {"segments": "moscow"}}))
    assert members and set(recorded.entered()) == members  # written <=> recorded


def test_manual_group_on_unknown_customer_is_404(api):
    assert api.post("/api/v1/customers/ghost/user-groups/VIP").status_code == 404


def test_feed_writes_during_write_back_lose_nothing(loaded):
    loaded.import_dataset(customers=[{"id": f"m{i}", "city": "Moscow"} for i in range(1500)])
    writer = MembershipWriter(loaded, {"moscow": "VIP"})
    errors = []

    def feed_writes():
        for i in range(0, 1500, 50):
            r = loaded.bulk_orders([{"id": f"o{i}", "customer_id": f"m{i}", "status": "paid",
                                     "created_at": "2025-01-01T00:00:00Z", "total": 5}])
            errors.extend(r["errors"])

    t = threading.Thread(target=feed_writes)
    t.start()
    writer.apply("moscow", MOSCOW)
    t.join()
    assert not errors
    loaded.es.indices.refresh(index=loaded.indices.customers)
    for i in range(0, 1500, 50):
        d = doc(loaded, f"m{i}")
        assert d["orders_count"] == 1 and d["segments"] == ["moscow"] and d["user_groups"] == ["VIP"]
