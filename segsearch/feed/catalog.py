"""Products, the product-group tree and custom-field definitions.

Each product document keeps `group_closure` (its groups with every ancestor), so an
order write needs one mget to know every group it touches.
"""
from __future__ import annotations

import uuid
from typing import Any, Iterable

from elasticsearch import Elasticsearch, NotFoundError, helpers

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
# The custom-field catalogue's version: a document in the custom-fields index holding a
# random token, rewritten after every custom-field write. Not a valid field code, so it
# is never listed as one. Being in the same index, it goes wherever the fields go (an
# emptied or re-created index has no version, which differs from any cached token). A
# catalogue written before versions existed has none either, and stays valid until the
# next write, which adds one.
VERSION_ID = "~version"


class Catalog:
    def __init__(self, es: Elasticsearch, indices: Indices):
        self.es = es
        self.indices = indices
        # (version token, fields): every rule check reads the catalogue, and a real-time
        # GET of the version costs far less than searching the fields. Replaced whole, so
        # threads never see a half-updated pair.
        self._cached: tuple[str | None, list[dict]] | None = None

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
        changed = [] if created else self._reclose_products(parents)
        return group, changed

    def _reclose_products(self, parents: dict[str, str | None]) -> list[str]:
        changed, actions = [], []
        for hit in helpers.scan(self.es, index=self.indices.products, source=["groups", "group_closure"]):
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
        writes the catalogue (the version is read first, so a write that lands while the
        fields are searched only makes the next call search again)."""
        version = self._version()
        cached = self._cached
        if cached is None or cached[0] != version:
            cached = (version, self._search_custom_fields())
            self._cached = cached
        return [dict(f) for f in cached[1]]

    def _version(self) -> str | None:
        try:
            doc = self.es.get(index=self.indices.custom_fields, id=VERSION_ID, source_includes=["name"])
        except NotFoundError:
            return None
        return doc["_source"].get("name")

    def _search_custom_fields(self) -> list[dict]:
        res = self.es.search(index=self.indices.custom_fields, size=1000, sort=[{"code": "asc"}],
                             query={"bool": {"must_not": {"ids": {"values": [VERSION_ID]}}}})
        return [{k: h["_source"][k] for k in ("code", "label", "type")} for h in res["hits"]["hits"]]

    def _bump_version(self) -> None:
        """Called after a custom-field write is visible to search: every process's cached
        catalogue is out of date from here (a real-time GET sees the new token at once)."""
        self._cached = None
        self.es.index(index=self.indices.custom_fields, id=VERSION_ID,
                      document={"name": uuid.uuid4().hex})

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
        self._bump_version()
        return field, code not in known

    def delete_custom_field(self, code: str) -> bool:
        """Unregister a custom field (False when it was not registered): rules can no longer
        name it. Its mapping and stored values stay (a mapping cannot lose a field)."""
        try:
            self.es.delete(index=self.indices.custom_fields, id=code, refresh=True)
        except NotFoundError:
            return False
        finally:
            self._bump_version()
        return True
