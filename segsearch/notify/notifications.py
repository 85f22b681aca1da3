"""In-app notifications and per-user notification settings, stored in Elasticsearch."""
from __future__ import annotations

import uuid
from typing import Any

from elasticsearch import Elasticsearch, NotFoundError

from segsearch.clock import now_iso
from segsearch.errors import NotFound
from segsearch.notify.paging import page
from segsearch.search.indices import Indices

FORMED = "segment.formed"
FAILED = "segment.failed"
DEFAULT_SETTINGS: dict[str, Any] = {"in_app": True, "email": True, "email_address": None}
SETTING_KEYS = tuple(DEFAULT_SETTINGS)


def formed_message(segment: dict, count: int) -> str:
    """"Segment VIP from Moscow is formed: 1204 customers" (also the e-mail subject)."""
    name = segment.get("name") or segment.get("code")
    noun = "customer" if count == 1 else "customers"
    return f"Segment {name} is formed: {count} {noun}"


def failed_message(segment: dict, error: str) -> str:
    """"Segment VIP from Moscow failed to form: Elasticsearch is unreachable." (also the subject)."""
    name = segment.get("name") or segment.get("code")
    return f"Segment {name} failed to form: {error} It is retried automatically."


class NotificationStore:
    """A user's notifications: add, list (newest first), mark read."""

    def __init__(self, es: Elasticsearch, indices: Indices):
        self.es = es
        self.index = indices.notifications

    def add_formed(self, user: str, segment: dict, result: dict, at: str) -> dict:
        """Record "segment formed" for `user`. No refresh: the formation must not wait."""
        doc = {"id": uuid.uuid4().hex, "user": user, "kind": FORMED,
               "segment": segment["code"], "segment_name": segment.get("name"),
               "message": formed_message(segment, int(result.get("count") or 0)),
               "count": result.get("count"), "entered": result.get("entered"),
               "left": result.get("left"), "reason": result.get("reason"),
               "at": at, "read": False, "read_at": None}
        self.es.create(index=self.index, id=doc["id"], document=doc)
        return doc

    def add_failed(self, user: str, segment: dict, error: str, at: str) -> dict:
        """Record "segment failed to form" for `user` (the error is in the message)."""
        doc = {"id": uuid.uuid4().hex, "user": user, "kind": FAILED,
               "segment": segment["code"], "segment_name": segment.get("name"),
               "message": failed_message(segment, error), "count": None, "entered": None,
               "left": None, "reason": None, "at": at, "read": False, "read_at": None}
        self.es.create(index=self.index, id=doc["id"], document=doc)
        return doc

    def list(self, user: str, page_size: int = 50, after: list | None = None,
             unread: bool | None = None) -> dict:
        """One page of `user`'s notifications, newest first: {"items", "next_cursor", "total"}."""
        filters: list[dict] = [{"term": {"user": user}}]
        if unread is not None:
            filters.append({"term": {"read": not unread}})
        body: dict[str, Any] = {
            "query": {"bool": {"filter": filters}}, "size": page_size + 1,
            "track_total_hits": True, "sort": [{"at": "desc"}, {"id": "asc"}],
        }
        if after:
            body["search_after"] = after
        return page(self.es.search(index=self.index, **body), page_size)

    def mark_read(self, user: str, notification_id: str, refresh: str | None = None) -> dict:
        """Mark one of `user`'s notifications read; NotFound (404) for anyone else's."""
        try:
            doc = self.es.get(index=self.index, id=notification_id)["_source"]
        except NotFoundError:
            doc = None
        if doc is None or doc.get("user") != user:  # another user's: as if absent
            raise NotFound(f"Notification {notification_id!r} not found.")
        if not doc.get("read"):
            doc = {**doc, "read": True, "read_at": now_iso()}
            self.es.update(index=self.index, id=notification_id, refresh=refresh,
                           doc={"read": True, "read_at": doc["read_at"]})
        return doc


class SettingsStore:
    """Notification settings per user; the defaults until the user saves some."""

    def __init__(self, es: Elasticsearch, indices: Indices):
        self.es = es
        self.index = indices.notification_settings

    def get(self, user: str) -> dict:
        """{"in_app", "email", "email_address"} of `user`."""
        try:
            stored = self.es.get(index=self.index, id=user)["_source"]
        except NotFoundError:
            stored = {}
        return {key: stored.get(key, default) for key, default in DEFAULT_SETTINGS.items()}

    def update(self, user: str, changes: dict, refresh: str | None = None) -> dict:
        """Apply `changes` (any subset of the keys) over the current settings and store them."""
        settings = {**self.get(user), **{k: v for k, v in changes.items() if k in SETTING_KEYS}}
        # Last write wins: a user's settings have one writer, the user.
        self.es.index(index=self.index, id=user, refresh=refresh,
                      document={**settings, "user": user, "updated_at": now_iso()})
        return settings
