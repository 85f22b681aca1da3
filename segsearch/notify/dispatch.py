"""What happens after a formation: webhook deliveries and the creator's notification.

`after_formation` runs inside the formation job, so it only reads two small documents,
writes at most one, and enqueues; the deliveries and the e-mail are RQ jobs of their
own (workers/notify_jobs.py) with their own retries.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from rq import Queue

from segsearch import clock
from segsearch.notify import mail
from segsearch.notify.events import EVENT_TYPES, batches, formation_events, subscribed
from segsearch.notify.notifications import NotificationStore, SettingsStore, failed_message, formed_message
from segsearch.notify.retry import retry_policy
from segsearch.notify.webhooks import WebhookStore

if TYPE_CHECKING:
    from segsearch.extensions import Services

log = logging.getLogger(__name__)

DELIVER_JOB = "workers.notify_jobs.deliver_webhooks"
MAIL_JOB = "workers.notify_jobs.send_mail"
DELIVERY_TIMEOUT = 120  # seconds per attempt: one POST with its timeout, plus bookkeeping
JOB_TTL = 7 * 86400     # keep results and failures a week, for support
ENQUEUE_CHUNK = 200     # jobs per Redis pipeline


def after_formation(services: Services, segment: dict, result: dict, entered: Sequence[str],
                    left: Sequence[str]) -> None:
    """Queue the webhook deliveries of one formation and notify the segment's creator.

    Never raises: the formation has already happened, and failing its job would re-run a
    formation that has no entries or leaves left to report. Failures are logged.
    """
    at = clock.now_iso()
    try:
        queue_deliveries(services, segment["code"], result, entered, left, at)
    except Exception:
        log.exception("webhooks of segment %r were not queued", segment.get("code"))
    try:
        notify_creator(services, segment, result, at)
    except Exception:
        log.exception("creator of segment %r was not notified", segment.get("code"))


def queue_deliveries(services: Services, code: str, result: dict, entered: Sequence[str],
                     left: Sequence[str], at: str, types: Sequence[str] = EVENT_TYPES) -> int:
    """One delivery job per active webhook and batch of its events; returns the job count.

    `types` narrows the events sent (real-time changes send no segment.formed)."""
    webhooks = [{**w, "events": [e for e in w["events"] if e in types]}
                for w in WebhookStore(services.es, services.indices).subscribed(types)]
    webhooks = [w for w in webhooks if subscribed(w["events"], entered, left)]
    jobs = _delivery_jobs(services, webhooks, code, result, entered, left, at)
    count = 0
    for chunk in batches(jobs, ENQUEUE_CHUNK):
        services.queue.enqueue_many(chunk)  # one pipeline per chunk
        count += len(chunk)
    return count


def _delivery_jobs(services: Services, webhooks: list[dict], code: str, result: dict,
                   entered: Sequence[str], left: Sequence[str], at: str) -> Iterator:
    size = int(services.config["WEBHOOK_BATCH_SIZE"])
    retry = retry_policy(services.config)
    for webhook in webhooks:
        events = formation_events(code, result, entered, left, at, webhook["events"])
        for batch in batches(events, size):
            # The job id doubles as the delivery id: stable across retries, for dedup.
            job_id = f"{services.indices.prefix}delivery-{uuid.uuid4().hex}"
            yield Queue.prepare_data(
                DELIVER_JOB, args=(services.indices.prefix, webhook["id"], batch),
                job_id=job_id, timeout=DELIVERY_TIMEOUT, result_ttl=JOB_TTL,
                failure_ttl=JOB_TTL, retry=retry,
                description=f"webhook {webhook['id']}: {len(batch)} events of {code}")


def notify_creator(services: Services, segment: dict, result: dict, at: str) -> dict:
    """The in-app notification and the e-mail for whoever created the segment, per their settings.

    Returns what was done: {"in_app": bool, "email": bool}.
    """
    user = segment.get("created_by")
    if not user or result.get("reason") == "delete":
        return {"in_app": False, "email": False}
    settings = SettingsStore(services.es, services.indices).get(user)
    if settings["in_app"]:
        NotificationStore(services.es, services.indices).add_formed(user, segment, result, at)
    email = mail.wants_email(settings, services.config)
    if email:
        services.enqueue(MAIL_JOB, services.indices.prefix, settings["email_address"],
                         formed_message(segment, int(result.get("count") or 0)),
                         mail.formed_body(segment, result, at))
    return {"in_app": bool(settings["in_app"]), "email": email}


def notify_failure(services: Services, segment: dict, error: str) -> dict:
    """Tell the segment's creator that its formation failed (in-app, e-mail), per their settings.

    Never raises, like after_formation: the failure is already recorded in the segment.
    """
    user = segment.get("created_by")
    done = {"in_app": False, "email": False}
    if not user:
        return done
    try:
        settings = SettingsStore(services.es, services.indices).get(user)
        if settings["in_app"]:
            NotificationStore(services.es, services.indices).add_failed(user, segment, error,
                                                                        clock.now_iso())
            done["in_app"] = True
        if mail.wants_email(settings, services.config):
            message = failed_message(segment, error)
            services.enqueue(MAIL_JOB, services.indices.prefix, settings["email_address"],
                             message, message + "\n")
            done["email"] = True
    except Exception:
        log.exception("creator of segment %r was not told of its failure", segment.get("code"))
    return done
