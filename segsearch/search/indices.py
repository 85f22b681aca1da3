"""Index names, templates and aliases.

Every kind of document lives in a versioned index ("<prefix>customers-v1") behind an
alias ("<prefix>customers"). Templates in index_templates/*.json are applied at start;
a mapping change that is not additive is a new version + reindex + alias swap
(see reindex()), never a delete.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Iterable

from elasticsearch import Elasticsearch, helpers

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "index_templates"
KINDS = ("customers", "products", "product-groups", "custom-fields", "tokens", "segments",
         "segment-events", "webhooks", "notifications", "notification-settings", "order-owners")


@dataclass(frozen=True)
class Indices:
    """Alias names for one instance (prefix), and the customers index's shape."""

    prefix: str
    shards: int = 1
    replicas: int = 0

    def alias(self, kind: str) -> str:
        return f"{self.prefix}{kind}"

    @property
    def customers(self) -> str:
        return self.alias("customers")

    @property
    def products(self) -> str:
        return self.alias("products")

    @property
    def product_groups(self) -> str:
        return self.alias("product-groups")

    @property
    def custom_fields(self) -> str:
        return self.alias("custom-fields")

    @property
    def segment_events(self) -> str:
        return self.alias("segment-events")

    @property
    def tokens(self) -> str:
        return self.alias("tokens")

    @property
    def segments(self) -> str:
        return self.alias("segments")

    @property
    def webhooks(self) -> str:
        return self.alias("webhooks")

    @property
    def notifications(self) -> str:
        return self.alias("notifications")

    @property
    def notification_settings(self) -> str:
        return self.alias("notification-settings")

    @property
    def order_owners(self) -> str:
        """Each order's current owner: the feed's real-time record for exact moves."""
        return self.alias("order-owners")


def load_templates(prefix: str, shards: int = 1, replicas: int = 0) -> dict[str, dict]:
    """Template bodies from index_templates/, with the prefix filled in; the customers
    index gets `shards`, every index `replicas` (the small ones keep one shard)."""
    out = {}
    for path in sorted(TEMPLATES_DIR.glob("*.json")):
        text = path.read_text().replace("{prefix}", prefix)
        body = json.loads(text)
        body.pop("_comment", None)
        settings = body.setdefault("template", {}).setdefault("settings", {})
        settings["number_of_replicas"] = replicas
        if path.stem == "customers":
            settings["number_of_shards"] = shards
        out[f"{prefix}{path.stem}"] = body
    return out


def ensure(es: Elasticsearch, indices: Indices) -> None:
    """Apply templates and create each alias's first index where missing. Idempotent.

    Every web, worker and follower process calls this at start: it reads what exists in
    three requests and writes (cluster-state updates, the slow part) only what differs.
    """
    templates = load_templates(indices.prefix, indices.shards, indices.replicas)
    live = es.options(ignore_status=404).indices.get_index_template(name=f"{indices.prefix}*")
    stored = {t["name"]: t["index_template"] for t in live.get("index_templates", [])}
    puts = []
    for name, body in templates.items():
        # Elasticsearch echoes settings in its own shape: a digest in _meta says "same".
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        if (stored.get(name) or {}).get("_meta", {}).get("digest") != digest:
            puts.append(partial(es.indices.put_index_template, name=name, **body, meta={"digest": digest}))
    _together(puts)
    aliases = es.options(ignore_status=404).indices.get_alias(name=f"{indices.prefix}*")
    behind = {alias: index for index, info in aliases.body.items() for alias in info.get("aliases", {})}
    existing = [behind[indices.alias(k)] for k in KINDS if indices.alias(k) in behind]
    state: Any = es.indices.get(index=existing, filter_path="*.mappings,*.settings.index.number_of_replicas") \
        if existing else {}
    creates = []
    for kind in KINDS:
        alias = indices.alias(kind)
        if alias not in behind:
            creates.append(partial(es.options(ignore_status=400).indices.create,
                                   index=f"{alias}-v1", aliases={alias: {"is_write_index": True}}))
            continue
        index = behind[alias]
        # An additive mapping change reaches the live index; a conflicting one raises.
        properties = _template_for(templates, f"{alias}-v1")["template"]["mappings"]["properties"]
        have = state.get(index, {})
        if not _contains(have.get("mappings", {}).get("properties"), properties):
            es.indices.put_mapping(index=index, properties=properties)
        # Replicas can change on a live index (shards cannot: that is a reindex).
        replicas = have.get("settings", {}).get("index", {}).get("number_of_replicas")
        if replicas is None or int(replicas) != indices.replicas:
            es.indices.put_settings(index=index, settings={"index": {"number_of_replicas": indices.replicas}})
    _together(creates)


def _together(calls: Sequence[Callable[[], Any]]) -> None:
    """Run independent cluster-state changes side by side: the master batches them, so a
    fresh instance's dozen templates and indices cost about one round of updates."""
    if len(calls) <= 1:
        for call in calls:
            call()
        return
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        for future in [pool.submit(call) for call in calls]:
            future.result()


def _contains(have: Any, want: Any) -> bool:
    """Whether `have` already holds everything `want` says (extra keys in `have` are fine;
    numbers and strings compare as text, as Elasticsearch echoes settings as strings)."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(_contains(have.get(k), v) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(have, list) and len(have) == len(want) and all(
            _contains(h, w) for h, w in zip(have, want))
    if have is None:
        return False
    return str(have).lower() == str(want).lower()


def _template_for(templates: dict[str, dict], index: str) -> dict:
    import fnmatch
    return next(t for t in templates.values()
                if any(fnmatch.fnmatch(index, p) for p in t["index_patterns"]))


def current_index(es: Elasticsearch, alias: str) -> str:
    """The concrete index behind an alias."""
    return next(iter(es.indices.get_alias(name=alias)))


def put_mapping(es: Elasticsearch, alias: str, properties: dict) -> None:
    """An additive mapping change, applied live to the index behind the alias."""
    es.indices.put_mapping(index=current_index(es, alias), properties=properties)


def reindex(es: Elasticsearch, alias: str, extra_mappings: dict | None = None) -> str:
    """Copy the alias's index into the next version (current template) and swap the alias.

    Client-side scan + bulk: the node has no reindex module. Writes that arrive during the
    copy land in the old index; run this with the feed paused.
    """
    old = current_index(es, alias)
    version = int(old.rsplit("-v", 1)[1]) + 1
    new = f"{alias}-v{version}"
    es.indices.create(index=new)
    if extra_mappings:
        es.indices.put_mapping(index=new, properties=extra_mappings)
    docs = helpers.scan(es, index=old, query={"query": {"match_all": {}}}, preserve_order=False)
    actions = ({"_index": new, "_id": d["_id"], "_source": d["_source"]} for d in docs)
    helpers.bulk(es, actions, chunk_size=1000, refresh="wait_for")
    es.indices.update_aliases(actions=[
        {"remove": {"index": old, "alias": alias}},
        {"add": {"index": new, "alias": alias, "is_write_index": True}},
    ])
    return new


def drop_prefix(es: Elasticsearch, prefix: str) -> None:
    """Delete this prefix's indices and templates (tests clean only their own prefix)."""
    if not prefix or prefix in {"*", "segsearch-"}:
        raise ValueError("refusing to drop a shared prefix")
    names: Iterable[str] = es.indices.get(index=f"{prefix}*", expand_wildcards="all").keys()
    if names:  # by name (destructive_requires_name), in one cluster-state update
        es.indices.delete(index=",".join(names))
    es.options(ignore_status=404).indices.delete_index_template(name=",".join(load_templates(prefix)))
