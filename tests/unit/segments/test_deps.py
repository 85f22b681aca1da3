"""The dependency-graph helpers: order of propagation through segment conditions."""

from __future__ import annotations

from segsearch.segments.deps import dependents, topological_order

# vip-moscow names vip; not-vip names vip; loyal-not-vip names not-vip and loyal.
GRAPH = {"vip": set(), "loyal": set(), "vip-moscow": {"vip"}, "not-vip": {"vip"},
         "loyal-not-vip": {"not-vip", "loyal"}, "other": set()}


def test_topological_order_puts_each_segment_after_what_it_names() -> None:
    order = topological_order(GRAPH)
    assert sorted(order) == sorted(GRAPH)
    for code, refs in GRAPH.items():
        assert all(order.index(ref) < order.index(code) for ref in refs)


def test_dependents_are_transitive_and_ordered() -> None:
    assert dependents(GRAPH, ["vip"]) == ["not-vip", "vip-moscow", "loyal-not-vip"]
    assert dependents(GRAPH, ["loyal"]) == ["loyal-not-vip"]
    assert dependents(GRAPH, ["other"]) == []


def test_a_stray_cycle_is_broken_not_dropped() -> None:
    order = topological_order({"a": {"b"}, "b": {"a"}, "c": {"a"}})
    assert sorted(order) == ["a", "b", "c"] and order[-1] == "c"
