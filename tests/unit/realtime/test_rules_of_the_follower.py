"""Pure parts of real-time membership: which segments are live, what a customer's write
is, which segments a rule names."""
from __future__ import annotations

from datetime import UTC, datetime

from segsearch.realtime.follower import Live, _plan, is_live, version_of
from segsearch.realtime.propagation import depended_on, named_segments

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
RULE = {"match": "all", "groups": []}


def test_only_active_dynamic_segments_inside_their_window_are_live():
    assert is_live({"type": "dynamic", "active": True, "rule": RULE}, NOW)
    assert not is_live({"type": "static", "active": True, "rule": RULE}, NOW)
    assert not is_live({"type": "dynamic", "active": False, "rule": RULE}, NOW)
    assert not is_live({"type": "dynamic", "rule": RULE, "starts_at": "2025-06-02T00:00:00Z"}, NOW)
    assert not is_live({"type": "dynamic", "rule": RULE, "expires_at": "2025-06-01T12:00:00Z"}, NOW)
    assert is_live({"type": "dynamic", "rule": RULE, "starts_at": "2025-06-01T12:00:00Z",
                    "expires_at": "2025-06-01T12:00:01Z"}, NOW)


LIVE = [Live("a", {}, "v1"), Live("b", {}, "v1")]
GRANTED = {"a": "G", "b": None, "frozen": "F"}


def test_plan_touches_only_live_codes_and_only_what_differs():
    doc = {"segments": ["b", "frozen"], "segment_user_groups": ["F"], "manual_user_groups": [],
           "user_groups": ["F"]}
    assert _plan(doc, {"a"}, LIVE, GRANTED) == ({"a"}, {"b"})  # "frozen" is not live: kept
    assert _plan(doc, {"b"}, LIVE, GRANTED) is None
    stale = {**doc, "user_groups": []}  # groups out of line with the segments: rewritten
    assert _plan(stale, {"b"}, LIVE, GRANTED) == (set(), set())


def test_the_segments_a_rule_names():
    rule = {"match": "any", "groups": [
        {"block": "segments", "conditions": [{"field": "segments", "op": "in", "include": ["a"],
                                              "exclude": ["b"]}]},
        {"block": "customer", "conditions": [{"field": "city", "op": "in", "include": ["a"]}]}]}
    assert named_segments(rule) == {"a", "b"}
    assert named_segments(None) == set()
    assert depended_on([{"type": "dynamic", "active": True, "rule": rule},
                        {"type": "dynamic", "active": False, "rule": {"groups": [
                            {"conditions": [{"field": "segments", "include": ["c"]}]}]}}]) == {"a", "b"}


def test_a_count_correction_is_not_a_new_version_but_a_formation_is():
    seg = {"code": "a", "status": "formed", "last_formed_at": "2025-06-01T10:00:00Z", "customers_count": 3}
    assert version_of(seg) == version_of({**seg, "customers_count": 4})
    assert version_of(seg) != version_of({**seg, "last_formed_at": "2025-06-01T10:05:00Z"})
    assert version_of(seg) != version_of({**seg, "status": "forming"})
