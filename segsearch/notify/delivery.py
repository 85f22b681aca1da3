"""One webhook delivery: a signed JSON POST of a batch of events.

Any non-2xx answer (redirects included: a signed POST is not replayed elsewhere) or a
connection error raises DeliveryError, so the RQ job fails and RQ retries it with the
configured back-off. Deliveries are at-least-once: a receiver dedupes on the
X-Segsearch-Delivery header, which stays the same across the retries of one batch.

The URL is checked again before every attempt (segsearch.net.addresses: DNS may have
changed since the webhook was created) and the POST goes to the very address that was
checked (segsearch.net.pinned); a refused target fails the attempt without sending.
"""
from __future__ import annotations

import hashlib
import hmac
import http.client
import json
from typing import TYPE_CHECKING

from segsearch.errors import NotFound
from segsearch.net import pinned
from segsearch.net.addresses import Unresolvable, UnsafeUrl, check_url
from segsearch.notify.webhooks import WebhookStore

if TYPE_CHECKING:
    from segsearch.extensions import Services

SIGNATURE_HEADER = "X-Segsearch-Signature"
DELIVERY_HEADER = "X-Segsearch-Delivery"
USER_AGENT = "segsearch-webhooks/1"


class DeliveryError(Exception):
    """The receiver did not accept the batch; the job is retried."""


def encode_body(events: list[dict]) -> bytes:
    """The exact bytes sent (and signed): {"events": [...]} as compact UTF-8 JSON."""
    return json.dumps({"events": events}, separators=(",", ":"), ensure_ascii=False).encode()


def sign(secret: str, body: bytes) -> str:
    """The signature header value: sha256=<hex HMAC-SHA256 of the body with the secret>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post(url: str, body: bytes, secret: str, delivery_id: str, timeout: float,
         allow_private: bool = False) -> int:
    """POST the body signed to the checked address of `url`; the 2xx status, or DeliveryError."""
    try:
        target = check_url(url, allow_private)
    except Unresolvable as err:
        raise DeliveryError(f"{url} unreachable: {err}") from None
    except UnsafeUrl as err:
        raise DeliveryError(f"{url} refused, not sent: {err}") from None
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
               SIGNATURE_HEADER: sign(secret, body), DELIVERY_HEADER: delivery_id}
    try:
        status = pinned.post(target, body, headers, timeout)
    except (OSError, http.client.HTTPException) as err:  # refused, TLS, timeout, bad answer
        raise DeliveryError(f"{url} unreachable: {err}") from None
    if not 200 <= status < 300:
        raise DeliveryError(f"{url} answered {status}")
    return status


def deliver(services: Services, webhook_id: str, events: list[dict], delivery_id: str) -> dict:
    """Send one batch to one webhook and record the outcome; DeliveryError to retry.

    The webhook is read now, not when the batch was queued: a deleted or deactivated
    webhook gets nothing more, and a changed secret signs the retries.
    """
    store = WebhookStore(services.es, services.indices)
    try:
        webhook = store.get(webhook_id)
    except NotFound:
        return {"skipped": "webhook deleted"}
    if not webhook.get("active", True):
        return {"skipped": "webhook inactive"}
    body = encode_body(events)
    try:
        status = post(webhook["url"], body, webhook["secret"], delivery_id,
                      float(services.config["WEBHOOK_TIMEOUT_SECONDS"]),
                      allow_private=bool(services.config["WEBHOOK_ALLOW_PRIVATE"]))
    except DeliveryError as err:
        store.record(webhook_id, str(err))
        raise
    store.record(webhook_id, None)
    return {"status": status, "events": len(events)}
