"""The notification bell in the admin's top bar: JSON for bell.js over the API's service.

The same NotificationStore calls as GET /api/v1/notifications and POST
/api/v1/notifications/{id}/read, for the session's user instead of a token's.
"""
from __future__ import annotations

from typing import Any

from flask import g, jsonify
from flask.typing import ResponseReturnValue

from segsearch.admin import blp
from segsearch.admin.views import fmt_dt, segment_url
from segsearch.api.notify import notification_store

# The dropdown lists the newest few; the badge counts every unread one.
RECENT = 8


def unread_count(user: str) -> int:
    """How many of `user`'s notifications are unread (the total of the unread list)."""
    return int(notification_store().list(user, page_size=1, unread=True)["total"])


def shown(item: dict[str, Any]) -> dict[str, Any]:
    """A notification as the dropdown shows it: with its segment's page and a local time."""
    return {"id": item["id"], "kind": item.get("kind"), "message": item.get("message", ""),
            "read": bool(item.get("read")), "at_text": fmt_dt(item.get("at")),
            "url": segment_url(item["segment"]) if item.get("segment") else None}


@blp.route("/notifications", methods=["GET"])
def notifications_json() -> ResponseReturnValue:
    """The newest notifications of the logged-in user and the unread count."""
    user = g.admin_user.name
    page = notification_store().list(user, page_size=RECENT)
    return jsonify({"items": [shown(n) for n in page["items"]], "total": page["total"],
                    "unread": unread_count(user)})


@blp.route("/notifications/<string:notification_id>/read", methods=["POST"])
def notification_read(notification_id: str) -> ResponseReturnValue:
    """Mark one notification read (404 for another user's); the new unread count."""
    user = g.admin_user.name
    # wait_for: the count answered next must already leave this one out.
    item = notification_store().mark_read(user, notification_id, refresh="wait_for")
    return jsonify({"item": shown(item), "unread": unread_count(user)})
