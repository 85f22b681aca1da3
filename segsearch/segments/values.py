"""Values of keyword fields as they occur in the customers, for the editor's suggestions.

`field_values` answers GET /api/v1/fields/{field}/values and the admin editor's lookups
alike: a terms aggregation over the customers (the most common values first), narrowed to
a case-insensitive prefix. Products and product groups are stored on customers by id, so
their values are looked up by id or name in the catalogue and carry the name as `label`
(a group's label is its path in the tree, "Tea › Chinese tea").

Answers are cached in-process for a short while: the editor asks on every keystroke, and a
minute-old list of cities is as good a suggestion as a fresh one.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from elasticsearch import Elasticsearch, NotFoundError

from segsearch.errors import Invalid
from segsearch.rules.fields import FieldDef
from segsearch.search.indices import Indices

SUGGESTED_TYPES = frozenset({"keyword", "keywords"})
# The prefix becomes a case-insensitive regex of about four characters per letter; this
# keeps it well inside Elasticsearch's index.max_regex_length (1000).
MAX_PREFIX = 100
DEFAULT_SIZE = 20
MAX_SIZE = 100
CACHE_SECONDS = 60.0
CACHE_ENTRIES = 512
MAX_GROUPS = 10_000
CATALOGUE_FIELDS = {"products": "products", "product_groups": "product_groups"}
PATH_SEPARATOR = " › "

_cache: dict[tuple, tuple[float, dict]] = {}
_lock = threading.Lock()


def suggestable(fdef: FieldDef | None) -> bool:
    """Whether the field's values can be listed (keyword fields stored on the customer)."""
    return fdef is not None and fdef.type in SUGGESTED_TYPES and fdef.path is not None


def field_values(es: Elasticsearch, indices: Indices, fields: Mapping[str, FieldDef], code: str,
                 prefix: str = "", size: int = DEFAULT_SIZE,
                 clock: Callable[[], float] = time.monotonic) -> dict:
    """{"field", "prefix", "items": [{"value", "label", "count"}]}: the field's values that
    start with `prefix` (any case), values equal to it (any case) first, then by customers.

    Raises Invalid (422) for an unknown field or one whose values are not keywords.
    """
    fdef = fields.get(code)
    if fdef is None:
        raise Invalid(f"Unknown field {code!r}.", {"path.field": ["Unknown field."]})
    if not suggestable(fdef):
        raise Invalid(f"Field {code!r} is not a keyword field.",
                      {"path.field": [f"Values are listed only for keyword fields; "
                                      f"{fdef.label} is {fdef.type}."]})
    if len(prefix) > MAX_PREFIX or not prefix.isprintable():
        raise Invalid("Invalid fields: query.prefix",
                      {"query.prefix": [f"At most {MAX_PREFIX} printable characters."]})
    size = max(1, min(int(size), MAX_SIZE))
    key = (indices.prefix, code, prefix, size)
    now = clock()
    with _lock:
        hit = _cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
    if code in CATALOGUE_FIELDS:
        items = _catalogue_values(es, indices, fdef, prefix, size)
    else:
        items = _terms(es, indices.customers, fdef.es_path, prefix, size)
    result = {"field": code, "prefix": prefix, "items": items}
    with _lock:
        if len(_cache) >= CACHE_ENTRIES:
            for stale in [k for k, (expires, _) in _cache.items() if expires <= now] or list(_cache):
                _cache.pop(stale, None)
        _cache[key] = (now + CACHE_SECONDS, result)
    return result


def clear_cache() -> None:
    """Forget every cached answer (tests that change data and ask again at once)."""
    with _lock:
        _cache.clear()


def case_insensitive_regex(text: str) -> str:
    """A Lucene regex matching `text` in any case: "Mo." -> "[mM][oO]\\."."""
    out = []
    for ch in text:
        lower, upper = ch.lower(), ch.upper()
        if lower != upper and len(lower) == 1 and len(upper) == 1:
            out.append(f"[{lower}{upper}]")
        elif ch.isascii() and not ch.isalnum():
            out.append("\\" + ch)  # every ASCII symbol is literal once escaped
        else:
            out.append(ch)
    return "".join(out)


def _terms(es: Elasticsearch, index: str, path: str, prefix: str, size: int) -> list[dict]:
    aggs: dict[str, Any] = {"values": {"terms": {"field": path, "size": size}}}
    query: dict[str, Any] = {"match_all": {}}
    if prefix:
        regex = case_insensitive_regex(prefix)
        aggs["values"]["terms"]["include"] = regex + ".*"
        aggs["same"] = {"terms": {"field": path, "size": 10, "include": regex}}
        query = {"prefix": {path: {"value": prefix, "case_insensitive": True}}}
    res = es.search(index=index, size=0, query=query, aggs=aggs)
    buckets = res["aggregations"].get("same", {}).get("buckets", []) + \
        res["aggregations"]["values"]["buckets"]
    items: dict[str, dict] = {}
    for bucket in buckets:
        items.setdefault(bucket["key"], {"value": bucket["key"], "label": None,
                                         "count": bucket["doc_count"]})
    return list(items.values())[:size]


def _wildcard(text: str) -> str:
    return "".join("\\" + ch if ch in "*?\\" else ch for ch in text)


def _catalogue_values(es: Elasticsearch, indices: Indices, fdef: FieldDef, prefix: str,
                      size: int) -> list[dict]:
    groups = fdef.code == "product_groups"
    labels = group_labels(es, indices) if groups else {}
    if prefix:
        # The catalogue's own ids and names, then how many customers hold each.
        if groups:
            low = prefix.lower()
            ids = sorted((gid for gid, label in labels.items()
                          if gid.lower().startswith(low) or low in label.lower()),
                         key=lambda gid: labels[gid].lower())[:MAX_SIZE]
        else:
            query = {"bool": {"should": [
                {"prefix": {"id": {"value": prefix, "case_insensitive": True}}},
                {"wildcard": {"name": {"value": f"*{_wildcard(prefix)}*", "case_insensitive": True}}},
            ], "minimum_should_match": 1}}
            res = es.search(index=indices.products, size=MAX_SIZE, query=query,
                            source_includes=["name"], sort=[{"name": "asc"}])
            ids, labels = [], {}
            for hit in res["hits"]["hits"]:
                ids.append(hit["_id"])
                labels[hit["_id"]] = hit["_source"].get("name") or hit["_id"]
        counts = _counts(es, indices.customers, fdef.es_path, ids)
        low = prefix.lower()
        exact = [i for i in ids if i.lower() == low or labels[i].lower() == low]
        rest = sorted((i for i in ids if i not in exact), key=lambda i: -counts.get(i, 0))
        chosen = (exact + rest)[:size]
    else:
        counts = _counts(es, indices.customers, fdef.es_path, None, size)
        chosen = list(counts)
        if not groups:
            labels = _product_names(es, indices, chosen)
    return [{"value": i, "label": labels.get(i, i), "count": counts.get(i, 0)} for i in chosen]


def _counts(es: Elasticsearch, index: str, path: str, ids: list[str] | None,
            size: int = MAX_SIZE) -> dict[str, int]:
    """Customers per value: of the given values, or the `size` most common."""
    if ids is not None and not ids:
        return {}
    terms: dict[str, Any] = {"field": path, "size": len(ids) if ids else size}
    if ids:
        terms["include"] = ids
    res = es.search(index=index, size=0, aggs={"values": {"terms": terms}})
    return {b["key"]: b["doc_count"] for b in res["aggregations"]["values"]["buckets"]}


def _product_names(es: Elasticsearch, indices: Indices, ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    docs = es.mget(index=indices.products, ids=ids, source=["name"])["docs"]
    return {d["_id"]: d["_source"].get("name") or d["_id"] for d in docs if d.get("found")}


def product_names(es: Elasticsearch, indices: Indices, ids: list[str]) -> dict[str, str]:
    """id -> name of the products that exist among `ids` (the editor labels its chips)."""
    return _product_names(es, indices, list(dict.fromkeys(ids)))


def group_labels(es: Elasticsearch, indices: Indices) -> dict[str, str]:
    """Every product group's id -> its path of names in the tree ("Tea › Chinese tea")."""
    try:
        res = es.search(index=indices.product_groups, size=MAX_GROUPS,
                        source_includes=["name", "parent_id"], query={"match_all": {}})
    except NotFoundError:
        return {}
    nodes = {h["_id"]: (h["_source"].get("name") or h["_id"], h["_source"].get("parent_id"))
             for h in res["hits"]["hits"]}
    labels: dict[str, str] = {}
    for gid in nodes:
        names, seen, at = [], set(), gid
        while at in nodes and at not in seen:  # a broken tree must not loop
            seen.add(at)
            names.append(nodes[at][0])
            at = nodes[at][1]
        labels[gid] = PATH_SEPARATOR.join(reversed(names))
    return labels


def group_tree(es: Elasticsearch, indices: Indices) -> list[dict]:
    """[{"value": id, "label": path}] of every product group, in path order (the editor's list)."""
    labels = group_labels(es, indices)
    return [{"value": gid, "label": label}
            for gid, label in sorted(labels.items(), key=lambda kv: kv[1].lower())]
