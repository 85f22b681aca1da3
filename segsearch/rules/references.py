"""Conditions on other segments (CONTRACT 6.2): which codes a rule names, and whether they
may be named. Pure: the dependency graph comes in as an argument.

The graph maps every existing segment code to the codes its own rule names. A rule may
name only existing codes, and never in a way that makes a segment depend on itself
through any chain (which includes naming itself).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterator, Mapping

from .validation import RuleError

SEGMENTS_FIELD = "segments"
OPERANDS = ("include", "exclude")

Graph = Mapping[str, Collection[str]]


def _references(rule: Mapping | None) -> Iterator[tuple[str, str]]:
    """(code, path of the operand naming it) for every segment code the rule names."""
    for gi, group in enumerate((rule or {}).get("groups") or []):
        for ci, cond in enumerate(group.get("conditions") or []):
            if not isinstance(cond, Mapping) or cond.get("field") != SEGMENTS_FIELD:
                continue
            for key in OPERANDS:
                for code in cond.get(key) or []:
                    yield code, f"groups.{gi}.conditions.{ci}.{key}"


def segment_refs(rule: Mapping | None) -> set[str]:
    """The segment codes a (validated) rule names in `segments` conditions."""
    return {code for code, _ in _references(rule)}


def _chain(graph: Graph, start: str, target: str) -> list[str] | None:
    """The shortest dependency chain start -> ... -> target in `graph`, or None."""
    parent: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if node == target:
            path = [node]
            while parent[path[-1]] is not None:
                path.append(parent[path[-1]])  # type: ignore[arg-type]
            return path[::-1]
        # The target's own (old) rule is being replaced: never walk out of it.
        for nxt in graph.get(node, ()) if node != target else ():
            if nxt not in parent:
                parent[nxt] = node
                queue.append(nxt)
    return None


def check_segment_refs(rule: Mapping | None, graph: Graph, code: str | None = None) -> None:
    """Raise RuleError naming every operand that names an unknown segment or closes a cycle.

    `code` is the segment whose rule this is (None for a bare rule, e.g. a preview); its
    entry in `graph` (if any) is its stored rule, which `rule` replaces.
    """
    errors: dict[str, list[str]] = {}
    for ref, path in _references(rule):
        chain = _chain(graph, ref, code) if code is not None else None
        if chain is not None:
            loop = " -> ".join([code, *chain])  # type: ignore[list-item]
            errors.setdefault(path, []).append(f"segment {ref!r} would make a cycle: {loop}")
        elif ref not in graph:
            errors.setdefault(path, []).append(f"unknown segment {ref!r}")
    if errors:
        raise RuleError(errors)
