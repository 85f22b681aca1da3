"""Job functions of webhooks and notifications: ids in, one call into segsearch.notify.

A job that raises is retried by RQ per the Retry it was enqueued with (see
segsearch/notify/dispatch.py): webhook deliveries by WEBHOOK_RETRY_INTERVALS, e-mail by
the services' enqueue wrapper.
"""
from __future__ import annotations

import uuid

from rq import get_current_job

from segsearch import metrics
from workers.context import services_for


def deliver_webhooks(prefix: str, webhook_id: str, events: list[dict]) -> dict:
    """POST one signed batch of events to one webhook; raises (and is retried) on failure."""
    from segsearch.notify.delivery import deliver
    job = get_current_job()
    delivery_id = job.id if job is not None else uuid.uuid4().hex
    svc = services_for(prefix)
    try:
        return deliver(svc, webhook_id, events, delivery_id)
    except Exception:
        metrics.record(svc.redis, prefix, webhook_failures=1)
        raise


def send_mail(prefix: str, to: str, subject: str, body: str) -> dict:
    """Send one notification e-mail over the configured SMTP server; raises on failure."""
    from segsearch.notify import mail
    config = services_for(prefix).config
    if not mail.enabled(config):  # SMTP was switched off after the mail was queued
        return {"skipped": "SMTP_HOST is not set"}
    mail.send(config, mail.build_message(config["SMTP_FROM"], to, subject, body))
    return {"to": to}
