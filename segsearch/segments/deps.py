"""The dependency graph of segments whose rules name other segments (CONTRACT 6.2).

An edge A -> B means A's rule has a `segments` condition naming B: A's members depend on
B's. The graph is read from the segments index (the I/O lives here) and handed to the
pure check in `segsearch.rules.references`; the ordering helpers are pure too, for
whoever propagates membership changes to dependent segments.

Reads use real-time GETs (mget), not search: a segment created a moment ago (without
?refresh) must already count as existing, or creating the next one that names it would
be refused.
"""
from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from elasticsearch import Elasticsearch, helpers

from segsearch.errors import Invalid
from segsearch.rules.references import check_segment_refs, segment_refs
from segsearch.rules.validation import RuleError

Graph = dict[str, frozenset[str]]
MGET_CHUNK = 1000


class SegmentDeps:
    """Reads the dependency graph of one instance's segments index."""

    def __init__(self, es: Elasticsearch, index: str):
        self.es = es
        self.index = index

    def reachable(self, start: Iterable[str]) -> Graph:
        """code -> the codes its rule names, for every existing segment reachable from
        `start` (start included when it exists). Unknown codes are simply absent."""
        graph: Graph = {}
        frontier = set(start)
        while frontier:
            found = self._rules(sorted(frontier))
            graph.update(found)
            frontier = {ref for refs in found.values() for ref in refs} - graph.keys()
        return graph

    def _rules(self, codes: list[str]) -> Graph:
        out: Graph = {}
        for start in range(0, len(codes), MGET_CHUNK):
            docs = self.es.mget(index=self.index, ids=codes[start:start + MGET_CHUNK],
                                source_includes=["rule"])["docs"]
            out.update({d["_id"]: frozenset(segment_refs(d["_source"].get("rule")))
                        for d in docs if d.get("found")})
        return out

    def graph(self) -> Graph:
        """The whole graph (every segment, refs or not): for ordering propagation."""
        hits = helpers.scan(self.es, index=self.index, source=["rule"], preserve_order=False,
                            query={"query": {"match_all": {}}})
        return {h["_id"]: frozenset(segment_refs(h["_source"].get("rule"))) for h in hits}

    def check(self, rule: Mapping | None, code: str | None = None, prefix: str = "rule") -> None:
        """422 (Invalid) when `rule` names an unknown segment or closes a cycle through `code`.

        Paths are relative to the request body (`rule.groups.0.conditions.1.include`).
        """
        refs = segment_refs(rule)
        if not refs:
            return
        try:
            check_segment_refs(rule, self.reachable(refs), code)
        except RuleError as err:
            errors = {f"{prefix}.{path}": messages for path, messages in err.errors.items()}
            raise Invalid("Invalid rule: " + ", ".join(sorted(errors)), errors) from None


def dependents(graph: Mapping[str, Collection[str]], changed: Iterable[str]) -> list[str]:
    """Every segment that depends on a `changed` one through any chain, in dependency
    order (a segment comes after every segment it depends on); `changed` not included."""
    users: dict[str, set[str]] = {}
    for code, refs in graph.items():
        for ref in refs:
            users.setdefault(ref, set()).add(code)
    seen: set[str] = set()
    todo = list(changed)
    while todo:
        for user in users.get(todo.pop(), ()):
            if user not in seen:
                seen.add(user)
                todo.append(user)
    seen -= set(changed)
    return [code for code in topological_order(graph) if code in seen]


def topological_order(graph: Mapping[str, Collection[str]]) -> list[str]:
    """All codes, each after the codes it names (ties by code, so the order is stable).

    A cycle cannot be stored (the service refuses it); should one appear anyway (two
    concurrent edits), its members are appended in code order rather than dropped.
    """
    pending = {code: set(refs) & graph.keys() for code, refs in graph.items()}
    order: list[str] = []
    while pending:
        ready = sorted(code for code, refs in pending.items() if not refs)
        if not ready:  # a cycle: break it deterministically
            ready = [min(pending)]
        for code in ready:
            del pending[code]
        for refs in pending.values():
            refs.difference_update(ready)
        order.extend(ready)
    return order
