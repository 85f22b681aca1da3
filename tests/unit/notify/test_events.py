"""The events of a formation and their batching (pure)."""
from __future__ import annotations

import pytest

from segsearch.notify.events import EVENT_TYPES, batches, formation_events, subscribed

RESULT = {"count": 10, "entered": 2, "left": 1, "took_ms": 5, "reason": "recalculation"}
AT = "2025-06-01T10:00:00Z"


def events(types):
    return list(formation_events("vip", RESULT, ["a", "b"], ["z"], AT, types))


def test_all_types_in_order_entries_leaves_summary():
    out = events(EVENT_TYPES)
    assert [(e["type"], e.get("customer_id")) for e in out] == [
        ("segment.entered", "a"), ("segment.entered", "b"), ("segment.left", "z"),
        ("segment.formed", None)]
    assert out[0] == {"type": "segment.entered", "segment": "vip", "customer_id": "a",
                      "at": AT, "reason": "recalculation"}
    assert out[-1] == {"type": "segment.formed", "segment": "vip", "count": 10, "entered": 2,
                       "left": 1, "at": AT, "reason": "recalculation"}


@pytest.mark.parametrize("types,expected", [
    (["segment.left"], ["segment.left"]),
    (["segment.formed"], ["segment.formed"]),
    (["segment.entered", "segment.formed"], ["segment.entered", "segment.entered", "segment.formed"]),
    ([], []),
])
def test_only_the_subscribed_types(types, expected):
    assert [e["type"] for e in events(types)] == expected


def test_events_are_lazy():
    def endless():
        i = 0
        while True:
            yield str(i)
            i += 1
    gen = formation_events("vip", RESULT, endless(), [], AT, ["segment.entered"])
    assert next(batches(gen, 3)) == [
        {"type": "segment.entered", "segment": "vip", "customer_id": str(i), "at": AT,
         "reason": "recalculation"} for i in range(3)]


@pytest.mark.parametrize("n,size,sizes", [
    (0, 500, []), (1, 500, [1]), (500, 500, [500]), (501, 500, [500, 1]),
    (1200, 500, [500, 500, 200]), (5, 1, [1] * 5),
])
def test_batches(n, size, sizes):
    out = list(batches(range(n), size))
    assert [len(b) for b in out] == sizes
    assert [x for b in out for x in b] == list(range(n))


def test_batch_size_must_be_positive():
    with pytest.raises(ValueError):
        list(batches([1], 0))


@pytest.mark.parametrize("webhook_events,entered,left,expected", [
    (["segment.formed"], [], [], True),
    (["segment.entered"], [], ["x"], False),
    (["segment.entered"], ["x"], [], True),
    (["segment.left"], ["x"], [], False),
    (["segment.left"], [], ["x"], True),
])
def test_subscribed(webhook_events, entered, left, expected):
    assert subscribed(webhook_events, entered, left) is expected
