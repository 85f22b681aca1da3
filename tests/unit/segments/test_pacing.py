"""The formation's duty cycle (segments.pacing.Pacer), pure: no Redis, no clock."""
from __future__ import annotations

import pytest

from segsearch.segments.pacing import BUDGET_S, MAX_PAUSE_S, NEVER, Pacer, is_live


@pytest.mark.parametrize(("duty", "busy", "worked", "pause"), [
    (0.5, True, 2.0, 2.0),      # half the time: as long a pause as the work
    (0.25, True, 1.0, 3.0),     # a quarter: three times as long
    (0.8, True, 4.0, 1.0),
    (1.0, True, 5.0, 0.0),      # duty 1 never pauses
    (0.5, False, 2.0, 0.0),     # nobody using the system: flat out
    (0.5, True, 0.0, 0.0),      # no work, no pause
    (0.1, True, 60.0, MAX_PAUSE_S),  # a stalled chunk does not stop the formation for long
])
def test_pause_owed(duty, busy, worked, pause):
    assert Pacer(lambda: busy, duty).pause_for(worked) == pytest.approx(pause)


def test_after_sleeps_the_pause_and_adds_it_up():
    slept: list[float] = []
    pacer = Pacer(lambda: True, 0.5, sleep=slept.append)
    assert pacer.after(0.3) == pytest.approx(0.3)
    assert pacer.after(0.2) == pytest.approx(0.2)
    assert slept == pytest.approx([0.3, 0.2]) and pacer.paused_s == pytest.approx(0.5)


def test_a_formation_gives_way_for_its_budget_at_most_then_writes_flat_out():
    slept: list[float] = []
    pacer = Pacer(lambda: True, 0.5, budget_s=5.0, sleep=slept.append)
    assert [pacer.after(2.0) for _ in range(4)] == pytest.approx([2.0, 2.0, 1.0, 0.0])
    assert pacer.paused_s == pytest.approx(5.0) and sum(slept) == pytest.approx(5.0)
    assert Pacer(lambda: True, 0.5).budget_s == BUDGET_S


def test_busy_is_not_asked_when_it_cannot_matter():
    asked: list[int] = []

    def busy() -> bool:
        asked.append(1)
        return True
    Pacer(busy, 1.0).pause_for(3.0)
    Pacer(busy, 0.5).pause_for(0.0)
    assert asked == []


def test_never_pauses():
    assert NEVER.after(100.0) == 0.0 and NEVER.paused_s == 0.0


@pytest.mark.parametrize("duty", [0, -0.5, 1.01])
def test_a_duty_outside_0_1_is_refused(duty):
    with pytest.raises(ValueError):
        Pacer(lambda: True, duty)


@pytest.mark.parametrize(("method", "endpoint", "live"), [
    ("POST", "rules.segments_preview", True),       # previews, explain, overlap: POSTs
    ("PUT", "feed.Customer", True),                 # the feed
    ("POST", "feed.orders_bulk", True),
    ("GET", "customers.Customers", True),           # member lists and customer reads
    ("GET", "customers.export_segment", True),
    ("GET", "admin.members", True),
    ("GET", "analytics.segment_analytics", True),
    ("GET", "rules.fields_values", True),
    ("GET", "membership.job_status", False),        # polls of status: next to free
    ("GET", "admin.status_json", False),
    ("GET", "admin.notifications_json", False),     # the bell of an open admin page
    ("GET", "segments.Segment", False),
    ("GET", "health.healthz", False),
    ("GET", "metrics.metrics_text", False),
    ("GET", "admin.static", False),
    ("GET", None, False),                           # no route: a 404
])
def test_what_counts_as_live_traffic(method, endpoint, live):
    assert is_live(method, endpoint) is live
