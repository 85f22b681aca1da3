"""Products, the product-group tree and custom-field definitions.

Each product document keeps `group_closure` (its groups with every ancestor), so an
order write needs one mget to know every group it touches.
"""
from __future__ import annotations

import time
import uuid
from typing import Any, Iterable

from elasticsearch import Elasticsearch, NotFoundError, helpers
from redis import Redis
from redis.exceptions import RedisError

from segsearch.errors import Conflict, Invalid
from segsearch.feed import derive
from segsearch.feed.schemas import CustomFieldSchema, ProductGroupSchema, ProductSchema, load
from segsearch.search import indices as idx
from segsearch.search.indices import Indices

# Elasticsearch mapping of each custom-field type (CONTRACT section 3).
CUSTOM_MAPPING = {"string": {"type": "keyword"}, "integer": {"type": "long"},
                  "decimal": {"type": "double"}, "date": {"type": "date", "format": "strict_date"},
                  "boolean": {"type": "boolean"}}
MAX_TERMS = 10_000
# A cached catalogue is searched again at least this often, whatever the version says:
# a bound on staleness should a version write ever be lost with Redis (seconds).
CACHE_MAX_AGE = 60.0


class CatalogVersion:
    """The custom-field catalogue's version, shared by every process through Redis: a
    random token, replaced after every custom-field write. Reading it is one Redis GET,
    where reading the catalogue itself is a search."""

    def __init__(self, redis: Redis, prefix: str):
        self.redis = redis
        self.key = f"{prefix}custom-fields:version"

    def current(self) -> str | None:
        """The version now; None when it cannot be known (then nothing may be cached).

        A missing key (new instance, Redis emptied) is set here, only if still missing:
        a writer that got in between made it exist, and this read then tells nothing."""
        try:
            token = self.redis.get(self.key)
            if token is not None:
                return token.decode() if isinstance(token, bytes) else str(token)
            fresh = uuid.uuid4().hex
            return fresh if self.redis.set(self.key, fresh, nx=True) else None
        except RedisError:
            return None  # the catalogue is still readable from the index

    def bump(self) -> None:
        self.redis.set(self.key, uuid.uuid4().hex)


class Catalog:
    def __init__(self, es: Elasticsearch, indices: Indices):
        self.es = es
        self.indices = indices
        # Without a version (a Feed built without Redis: tests, scripts) nothing is cached.
        self.version: CatalogVersion | None = None
        # (version, when read, fields): every rule check reads the catalogue. Replaced
        # whole, so threads never see a half-updated triple.
        self._cached: tuple[str, float, list[dict]] | None = None

    # -- product groups ------------------------------------------------------------
    def parents(self) -> dict[str, str | None]:
        res = self.es.search(index=self.indices.product_groups, size=MAX_TERMS,
                             source={"includes": ["parent_id"]}, query={"match_all": {}})
        return {h["_id"]: h["_source"].get("parent_id") for h in res["hits"]["hits"]}

    def put_group(self, group_id: str, data: Any, refresh: str | None = None) -> tuple[dict, list[str]]:
        """Upsert a group; returns it and the products whose closure changed."""
        group = load(ProductGroupSchema(), data, ident=group_id)
        parents = self.parents()
        if group["parent_id"] is not None and group["parent_id"] not in parents:
            # A tree has no dangling edges: create the parent first (the loader and the
            # demo data write groups parents first).
            raise Invalid("Invalid fields: parent_id",
                          {"parent_id": ["Unknown product group (create the parent first)."]})
        created = group_id not in parents
        parents[group_id] = group["parent_id"]
        if group["parent_id"] and group_id in derive.group_closure([group["parent_id"]], parents):
            raise Invalid("Invalid fields: parent_id", {"parent_id": ["Would make a cycle."]})
        self.es.index(index=self.indices.product_groups, id=group_id, refresh=refresh or True,
                      document={**group, "ancestors": derive.group_closure([group_id], parents)[1:]})
        # A new group has no descendants yet (parents must exist first), so only products
        # that named it before it existed (a feed may send products first) change closure.
        changed = self._reclose_products(parents, {"term": {"groups": group_id}} if created else None)
        return group, changed

    def _reclose_products(self, parents: dict[str, str | None], query: dict | None = None) -> list[str]:
        changed, actions = [], []
        for hit in helpers.scan(self.es, index=self.indices.products, source=["groups", "group_closure"],
                                query={"query": query or {"match_all": {}}}):
            closure = derive.group_closure(hit["_source"].get("groups", []), parents)
            if closure != hit["_source"].get("group_closure"):
                changed.append(hit["_id"])
                actions.append({"_op_type": "update", "_index": self.indices.products,
                                "_id": hit["_id"], "doc": {"group_closure": closure}})
        helpers.bulk(self.es, actions, refresh=True)
        return changed

    # -- products ------------------------------------------------------------------
    def put_products(self, items: list[Any], refresh: str | None = None) -> dict:
        """Validate and upsert products; reports which changed groups (customers follow)."""
        errors, good = [], []
        for position, item in enumerate(items):
            try:
                good.append(load(ProductSchema(), item))
            except Invalid as err:
                errors.append({"id": item.get("id") if isinstance(item, dict) else None,
                               "index": position, "errors": err.errors})
        parents = self.parents()
        before = self.closures({p["id"] for p in good})
        actions = []
        for p in good:
            doc = {**p, "price": None if p["price"] is None else float(p["price"]),
                   "group_closure": derive.group_closure(p["groups"], parents)}
            actions.append({"_index": self.indices.products, "_id": p["id"], "_source": doc})
        helpers.bulk(self.es, actions, refresh=refresh or True)
        regrouped = [a["_id"] for a in actions
                     if a["_id"] in before and before[a["_id"]] != a["_source"]["group_closure"]]
        return {"indexed": len(good), "errors": errors, "regrouped": regrouped,
                "created": [a["_id"] for a in actions if a["_id"] not in before]}

    def closures(self, product_ids: Iterable[str] | None) -> dict[str, list[str]]:
        """product id -> its groups with ancestors (all products when ids is None)."""
        if product_ids is None:
            hits = helpers.scan(self.es, index=self.indices.products, source=["group_closure"])
            return {h["_id"]: h["_source"].get("group_closure", []) for h in hits}
        ids = list(product_ids)
        if not ids:
            return {}
        docs = self.es.mget(index=self.indices.products, ids=ids, source=["group_closure"])["docs"]
        return {d["_id"]: d["_source"].get("group_closure", []) for d in docs if d.get("found")}

    # -- custom fields -------------------------------------------------------------
    def custom_fields(self) -> list[dict]:
        """The registered custom fields, by code; cached in the process until any process
        writes the catalogue. The version is read before the fields are searched, so a
        write landing in between only makes the next call search again."""
        version = self.version.current() if self.version is not None else None
        cached = self._cached
        if version is None or cached is None or cached[0] != version \
                or time.monotonic() - cached[1] > CACHE_MAX_AGE:
            fields = self._search_custom_fields()
            if version is not None:
                self._cached = cached = (version, time.monotonic(), fields)
        else:
            fields = cached[2]
        return [dict(f) for f in fields]

    def _search_custom_fields(self) -> list[dict]:
        res = self.es.search(index=self.indices.custom_fields, size=1000,
                             query={"match_all": {}}, sort=[{"code": "asc"}])
        return [{k: h["_source"][k] for k in ("code", "label", "type")} for h in res["hits"]["hits"]]

    def _changed(self) -> None:
        """After a custom-field write is visible to search: every process's cached catalogue
        is out of date from here (a Redis error raises: the write must be retried)."""
        self._cached = None
        if self.version is not None:
            self.version.bump()

    def custom_types(self) -> dict[str, str]:
        return {f["code"]: f["type"] for f in self.custom_fields()}

    def put_custom_field(self, code: str, data: Any, refresh: str | None = None) -> tuple[dict, bool]:
        """Register a custom field: its typed mapping is added live (an additive change)."""
        field = load(CustomFieldSchema(), data, ident=code, key="code")
        known = self.custom_types()
        if code in known and known[code] != field["type"]:
            raise Conflict(f"Custom field {code!r} is a {known[code]}; changing its type needs a reindex.",
                           {"type": [f"Is {known[code]}."]})
        props: dict = {"custom": {"properties": {code: CUSTOM_MAPPING[field["type"]]}}}
        if field["type"] == "date":
            props["custom_md"] = {"properties": {code: {"type": "short"}}}
        idx.put_mapping(self.es, self.indices.customers, props)
        self.es.index(index=self.indices.custom_fields, id=code, document=field,
                      refresh=refresh or True)
        self._changed()
        return field, code not in known

    def delete_custom_field(self, code: str) -> bool:
        """Unregister a custom field (False when it was not registered): rules can no longer
        name it. Its mapping and stored values stay (a mapping cannot lose a field)."""
        try:
            self.es.delete(index=self.indices.custom_fields, id=code, refresh=True)
        except NotFoundError:
            return False
        finally:
            self._changed()
        return True
