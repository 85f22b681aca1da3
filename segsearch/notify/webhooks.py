"""Webhook subscriptions stored in Elasticsearch, one document per webhook."""
from __future__ import annotations

import builtins
import uuid
from collections.abc import Iterable
from typing import Any

from elasticsearch import Elasticsearch, NotFoundError

from segsearch.clock import now_iso
from segsearch.errors import Conflict, NotFound
from segsearch.notify.paging import page
from segsearch.search.indices import Indices

# A formation fans out one job per webhook and batch: keep the fan-out bounded.
MAX_WEBHOOKS = 100
SECRET_FIELDS = ("secret",)


def public(doc: dict) -> dict:
    """The webhook as the API shows it: never the secret."""
    return {k: v for k, v in doc.items() if k not in SECRET_FIELDS}


class WebhookStore:
    """Create, list, read and delete webhooks; record delivery outcomes."""

    def __init__(self, es: Elasticsearch, indices: Indices):
        self.es = es
        self.index = indices.webhooks

    def create(self, data: dict, actor: str | None, refresh: str | None = None) -> dict:
        """Store a new, active webhook; Conflict (409) beyond MAX_WEBHOOKS."""
        if self.es.count(index=self.index)["count"] >= MAX_WEBHOOKS:
            raise Conflict(f"At most {MAX_WEBHOOKS} webhooks; delete one first.")
        doc = {"id": uuid.uuid4().hex, "url": data["url"], "events": list(data["events"]),
               "secret": data["secret"], "active": data.get("active", True),
               "created_at": now_iso(), "created_by": actor, "last_success_at": None,
               "last_failure_at": None, "last_error": None}
        self.es.create(index=self.index, id=doc["id"], document=doc, refresh=refresh)
        return doc

    def get(self, webhook_id: str) -> dict:
        """The stored webhook (secret included), or NotFound (404)."""
        try:
            return self.es.get(index=self.index, id=webhook_id)["_source"]
        except NotFoundError:
            raise NotFound(f"Webhook {webhook_id!r} not found.") from None

    def delete(self, webhook_id: str, refresh: str | None = None) -> None:
        """Remove the webhook; queued deliveries for it are then skipped. NotFound (404)."""
        try:
            self.es.delete(index=self.index, id=webhook_id, refresh=refresh)
        except NotFoundError:
            raise NotFound(f"Webhook {webhook_id!r} not found.") from None

    def list(self, page_size: int = 50, after: list | None = None) -> dict:
        """One page, newest first: {"items", "next_cursor", "total"}; secrets removed."""
        body: dict[str, Any] = {
            "query": {"match_all": {}}, "size": page_size + 1, "track_total_hits": True,
            "sort": [{"created_at": "desc"}, {"id": "asc"}],
            "_source": {"excludes": list(SECRET_FIELDS)},
        }
        if after:
            body["search_after"] = after
        return page(self.es.search(index=self.index, **body), page_size)

    # builtins.list: inside the class, `list` is the method above.
    def subscribed(self, event_types: Iterable[str]) -> builtins.list[dict]:
        """Active webhooks subscribed to any of `event_types` (secrets included)."""
        query = {"bool": {"filter": [{"term": {"active": True}},
                                     {"terms": {"events": list(event_types)}}]}}
        res = self.es.search(index=self.index, query=query, size=MAX_WEBHOOKS * 2,
                             sort=[{"id": "asc"}])
        return [h["_source"] for h in res["hits"]["hits"]]

    def record(self, webhook_id: str, error: str | None) -> None:
        """Note the latest delivery's outcome on the webhook (a partial update, no script)."""
        doc = ({"last_success_at": now_iso(), "last_error": None} if error is None
               else {"last_failure_at": now_iso(), "last_error": error[:1000]})
        # Deliveries run in parallel workers; retry_on_conflict merges their updates.
        self.es.options(ignore_status=404).update(index=self.index, id=webhook_id, doc=doc,
                                                  retry_on_conflict=5)
