"""A formation's webhook events fed chunk by chunk batch exactly like the whole list."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from segsearch.notify import dispatch
from segsearch.notify.events import EVENT_TYPES, batches, formation_events

ALL = list(EVENT_TYPES)


class Queue:
    def __init__(self) -> None:
        self.jobs: list = []

    def enqueue_many(self, jobs: list) -> None:
        self.jobs += jobs


def stream(monkeypatch, webhooks: list[dict], size: int = 3):
    monkeypatch.setattr(dispatch.WebhookStore, "subscribed", lambda self, types: webhooks)
    svc = SimpleNamespace(config={"WEBHOOK_BATCH_SIZE": size, "WEBHOOK_RETRY_INTERVALS": "none"},
                          es=None, indices=SimpleNamespace(prefix="t-", webhooks="t-webhooks"),
                          queue=Queue())
    return svc, dispatch.FormationWebhooks(svc, "vip", "recalculation")


def sent(queue: Queue) -> list[tuple[str, list[dict]]]:
    return [(job.args[1], job.args[2]) for job in queue.jobs]


@pytest.mark.parametrize("chunks", [
    [(["a", "b", "c", "d"], []), ([], ["x"]), ([], ["y", "z"])],
    [(["a"], []), (["b", "c"], []), (["d"], []), ([], ["x", "y", "z"])],
])
def test_chunked_batches_equal_the_whole_formations(monkeypatch, chunks):
    svc, hooks = stream(monkeypatch, [{"id": "w1", "events": ALL},
                                      {"id": "w2", "events": ["segment.left"]}])
    for entered, left in chunks:
        hooks.add(entered, left, "T")
    result = {"count": 4, "entered": 4, "left": 3, "reason": "recalculation"}
    hooks.finish(result, "T")
    whole = {w: list(batches(formation_events("vip", result, "abcd", "xyz", "T", events), 3))
             for w, events in (("w1", ALL), ("w2", ["segment.left"]))}
    for w, expected in whole.items():
        assert [b for hook, b in sent(svc.queue) if hook == w] == expected


def test_at_most_a_batch_waits_per_webhook(monkeypatch):
    svc, hooks = stream(monkeypatch, [{"id": "w1", "events": ["segment.entered"]}], size=500)
    for start in range(0, 10_000, 1000):
        hooks.add([f"c{i}" for i in range(start, start + 1000)], [])
        assert len(hooks.waiting["w1"]) < 500
    assert len(svc.queue.jobs) == 20


def test_nothing_for_a_subscriber_without_matching_events(monkeypatch):
    svc, hooks = stream(monkeypatch, [{"id": "w1", "events": ["segment.entered"]}])
    hooks.add([], ["x"])
    hooks.finish({"count": 0, "entered": 0, "left": 1, "reason": "recalculation"})
    assert svc.queue.jobs == []
