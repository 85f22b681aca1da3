"""JSON parsing bounded in nesting: for request bodies and the opaque cursors alike."""
from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from segsearch.limits import MAX_JSON_DEPTH


class TooDeep(ValueError):
    """The JSON text nests containers deeper than MAX_JSON_DEPTH."""


def depth(value: Any) -> int:
    """Nesting depth of containers in a parsed JSON value, without recursion; stops
    counting once past MAX_JSON_DEPTH + 1 (enough to refuse it)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        children: Iterable[Any]
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, level)
        if level > MAX_JSON_DEPTH:
            break
        stack.extend((child, level + 1) for child in children)
    return deepest


def loads(data: str | bytes) -> Any:
    """json.loads; TooDeep (a ValueError) when nested deeper than MAX_JSON_DEPTH.

    The C parser recurses once per level and raises RecursionError near the interpreter's
    limit (about 1000 levels); anything between MAX_JSON_DEPTH and that is caught by the
    walk afterwards. Non-finite numbers (NaN, Infinity, 1e400) parse to floats, so the
    field they sit in names them in its own 422.
    """
    try:
        value = json.loads(data)
    except RecursionError:
        raise TooDeep(f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    if depth(value) > MAX_JSON_DEPTH:
        raise TooDeep(f"nested deeper than {MAX_JSON_DEPTH} levels")
    return value
