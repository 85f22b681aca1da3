"""Webhooks, in-app notifications and notification settings over HTTP (CONTRACT section 4).

Webhooks are the instance's integrations: admins and marketers manage them
("segments:write"). Notifications and settings belong to the calling principal (the
token's name) and are open to every role that reads segments.
"""
from __future__ import annotations

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint

from segsearch.api.security import refresh_arg, requires
from segsearch.extensions import services
from segsearch.notify import mail
from segsearch.notify.notifications import NotificationStore, SettingsStore
from segsearch.notify.schemas import (
    NotificationListArgs,
    NotificationOut,
    NotificationPage,
    NotificationSettingsIn,
    NotificationSettingsOut,
    PageArgs,
    WebhookCreate,
    WebhookOut,
    WebhookPage,
)
from segsearch.notify.webhooks import WebhookStore, public

blp = Blueprint("notify", __name__, url_prefix="/api/v1",
                description="Webhooks and notifications")

REFRESH = {"in": "query", "name": "refresh", "required": False,
           "schema": {"type": "string", "enum": ["wait_for"]},
           "description": "the write is visible to search when the response returns"}


def _webhooks() -> WebhookStore:
    svc = services()
    return WebhookStore(svc.es, svc.indices)


def notification_store() -> NotificationStore:
    """The caller's notifications as the API and the admin's bell both read them."""
    svc = services()
    return NotificationStore(svc.es, svc.indices)


def _settings_out(settings: dict) -> dict:
    return {**settings, "email_enabled": mail.wants_email(settings, services().config)}


@blp.route("/webhooks")
class Webhooks(MethodView):
    @requires("segments:write")
    @blp.arguments(PageArgs, location="query", as_kwargs=False)
    @blp.response(200, WebhookPage)
    @blp.doc(summary="List webhooks, newest first (secrets are never returned)")
    def get(self, args):
        return _webhooks().list(args["page_size"], args["cursor"])

    @requires("segments:write")
    @blp.arguments(WebhookCreate)
    @blp.response(201, WebhookOut)
    @blp.doc(summary="Subscribe a URL to segment.entered / segment.left / segment.formed",
             description="Deliveries are POSTs of {\"events\": [...]} (at most "
                         "SEGSEARCH_WEBHOOK_BATCH_SIZE events each) signed with "
                         "X-Segsearch-Signature: sha256=<hex HMAC-SHA256 of the body with "
                         "the secret>; any non-2xx answer is retried with back-off.",
             parameters=[REFRESH])
    def post(self, data):
        return public(_webhooks().create(data, actor=g.principal.name, refresh=refresh_arg()))


@blp.route("/webhooks/<string:webhook_id>")
class Webhook(MethodView):
    @requires("segments:write")
    @blp.response(200, WebhookOut)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.doc(summary="A webhook with its latest delivery outcome")
    def get(self, webhook_id: str):
        return public(_webhooks().get(webhook_id))

    @requires("segments:write")
    @blp.response(204)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.doc(summary="Delete a webhook; its queued deliveries are dropped",
             parameters=[REFRESH])
    def delete(self, webhook_id: str):
        _webhooks().delete(webhook_id, refresh=refresh_arg())
        return ""


@blp.route("/notifications", methods=["GET"])
@requires("segments:read")
@blp.arguments(NotificationListArgs, location="query", as_kwargs=False)
@blp.response(200, NotificationPage)
@blp.doc(summary="The caller's notifications, newest first")
def list_notifications(args):
    return notification_store().list(g.principal.name, args["page_size"], args["cursor"],
                                 args["unread"])


@blp.route("/notifications/<string:notification_id>/read", methods=["POST"])
@requires("segments:read")
@blp.response(200, NotificationOut)
@blp.alt_response(404, response="NOT_FOUND")
@blp.doc(summary="Mark one of the caller's notifications read (no body)",
         parameters=[REFRESH])
def read_notification(notification_id: str):
    return notification_store().mark_read(g.principal.name, notification_id, refresh=refresh_arg())


@blp.route("/notification-settings")
class NotificationSettings(MethodView):
    @requires("segments:read")
    @blp.response(200, NotificationSettingsOut)
    @blp.doc(summary="The caller's notification settings")
    def get(self):
        svc = services()
        return _settings_out(SettingsStore(svc.es, svc.indices).get(g.principal.name))

    @requires("segments:read")
    @blp.arguments(NotificationSettingsIn)
    @blp.response(200, NotificationSettingsOut)
    @blp.doc(summary="Change the caller's notification settings (fields left out keep "
                     "their value)", parameters=[REFRESH])
    def put(self, changes):
        svc = services()
        store = SettingsStore(svc.es, svc.indices)
        return _settings_out(store.update(g.principal.name, changes, refresh=refresh_arg()))
