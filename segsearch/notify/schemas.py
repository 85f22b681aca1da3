"""Marshmallow schemas of the webhooks, notifications and settings API."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app, has_app_context
from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate, validates

from segsearch import limits
from segsearch.net.addresses import UnsafeUrl, check_url
from segsearch.notify.events import EVENT_TYPES
from segsearch.notify.paging import Cursor

SECRET_MIN, SECRET_MAX = 16, 256
_strict_bool = {"truthy": {True}, "falsy": {False}}
_iso = {"format": "date-time"}


class WebhookCreate(Schema):
    """POST /webhooks."""

    class Meta:
        unknown = RAISE

    url = fields.Url(required=True, schemes={"http", "https"}, require_tld=False,
                     validate=validate.Length(max=2048),
                     metadata={"description": "http(s) URL receiving the POSTs"})
    events = fields.List(fields.String(validate=validate.OneOf(EVENT_TYPES)), required=True,
                         validate=validate.Length(min=1, max=len(EVENT_TYPES) * 4),
                         metadata={"description": "any of " + ", ".join(EVENT_TYPES)})
    secret = fields.String(required=True, load_only=True,
                           validate=validate.Length(min=SECRET_MIN, max=SECRET_MAX),
                           metadata={"description": "HMAC-SHA256 key of the signature header; "
                                                    "never returned"})
    active = fields.Boolean(load_default=True, **_strict_bool)

    @validates("url")
    def _public_target(self, url: str, **kwargs: Any) -> None:
        # Resolved now and again at every delivery (segsearch.notify.delivery).
        try:
            check_url(url, allow_private=_allow_private())
        except UnsafeUrl as err:
            raise ValidationError(f"This URL is refused: {err}.") from None

    @post_load
    def _dedupe(self, data: dict, **kwargs: Any) -> dict:
        return {**data, "events": list(dict.fromkeys(data["events"]))}


def _allow_private() -> bool:
    """SEGSEARCH_WEBHOOK_ALLOW_PRIVATE of the app serving the request; refuse outside one."""
    if not has_app_context():
        return False
    return bool(current_app.config["SEGSEARCH"].get("WEBHOOK_ALLOW_PRIVATE"))


class WebhookOut(Schema):
    """A webhook as the API shows it (no secret)."""

    id = fields.String()
    url = fields.String()
    events = fields.List(fields.String())
    active = fields.Boolean()
    created_at = fields.String(metadata=_iso)
    created_by = fields.String(allow_none=True)
    last_success_at = fields.String(allow_none=True, metadata=_iso)
    last_failure_at = fields.String(allow_none=True, metadata=_iso)
    last_error = fields.String(allow_none=True)


class WebhookPage(Schema):
    items = fields.List(fields.Nested(WebhookOut))
    next_cursor = fields.String(allow_none=True)
    total = fields.Integer()


def _is_instant(value: Any) -> bool:
    """A date sort value: epoch milliseconds (what Elasticsearch returns) or ISO text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return limits.INT64_MIN <= value <= limits.INT64_MAX
    if not isinstance(value, str) or len(value) > 64:
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


class AtIdCursor(Cursor):
    """A cursor of a list sorted by a date, then an id: [instant, id]. Anything else is
    forged or garbled (a 422 here, not an Elasticsearch parse error)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> list:
        after = super()._deserialize(value, attr, data, **kwargs)
        if not (len(after) == 2 and _is_instant(after[0]) and isinstance(after[1], str)
                and len(after[1]) <= limits.MAX_KEYWORD_CHARS):
            raise ValidationError("Not a valid cursor.")
        return after


class PageArgs(Schema):
    """?page_size= (1..1000) and ?cursor= of a list."""

    page_size = fields.Integer(load_default=50, validate=validate.Range(min=1, max=1000))
    cursor = AtIdCursor(load_default=None)


class NotificationListArgs(PageArgs):
    unread = fields.Boolean(load_default=None, allow_none=True,
                            metadata={"description": "true: unread only; false: read only"})


class NotificationOut(Schema):
    """One in-app notification."""

    id = fields.String()
    kind = fields.String(metadata={"enum": ["segment.formed", "segment.failed"]})
    segment = fields.String()
    segment_name = fields.String(allow_none=True)
    message = fields.String()
    count = fields.Integer(allow_none=True)
    entered = fields.Integer(allow_none=True)
    left = fields.Integer(allow_none=True)
    reason = fields.String(allow_none=True)
    at = fields.String(metadata=_iso)
    read = fields.Boolean()
    read_at = fields.String(allow_none=True, metadata=_iso)


class NotificationPage(Schema):
    items = fields.List(fields.Nested(NotificationOut))
    next_cursor = fields.String(allow_none=True)
    total = fields.Integer()


class NotificationSettingsIn(Schema):
    """PUT /notification-settings: any subset; fields left out keep their value."""

    class Meta:
        unknown = RAISE

    in_app = fields.Boolean(**_strict_bool)
    email = fields.Boolean(**_strict_bool)
    email_address = fields.Email(allow_none=True,
                                 validate=validate.Length(max=limits.MAX_EMAIL_CHARS))


class NotificationSettingsOut(Schema):
    in_app = fields.Boolean()
    email = fields.Boolean()
    email_address = fields.String(allow_none=True)
    email_enabled = fields.Boolean(metadata={
        "description": "whether e-mail would be sent now: email on, an address, SMTP set up"})
