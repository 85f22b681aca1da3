"""What happens after a formation: webhook deliveries and the creator's notification.

`FormationWebhooks` and `after_formation` run inside the formation job, so they only
read small documents, write at most one, and enqueue; the deliveries and the e-mail are
RQ jobs of their own (workers/notify_jobs.py) with their own retries.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rq import Queue

from segsearch import clock
from segsearch.notify import mail
from segsearch.notify.events import EVENT_TYPES, FORMED, batches, formation_events
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


def after_formation(services: Services, segment: dict, result: dict, entered: Sequence[str] = (),
                    left: Sequence[str] = (), webhooks: FormationWebhooks | None = None) -> None:
    """Queue the rest of one formation's webhook deliveries and notify the segment's creator.

    `webhooks`: the formation's stream, fed chunk by chunk while it wrote (then `entered`
    and `left` are empty); without it, one is made here for `entered` and `left`.
    Never raises: the formation has already happened, and failing its job would re-run a
    formation that has no entries or leaves left to report. Failures are logged.
    """
    at = clock.now_iso()
    try:
        if webhooks is None:
            webhooks = FormationWebhooks(services, segment["code"], result.get("reason"))
            webhooks.add(entered, left, at)
        webhooks.finish(result, at)
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
    webhooks = FormationWebhooks(services, code, result.get("reason"), types)
    return webhooks.add(entered, left, at) + webhooks.finish(result, at)


class FormationWebhooks:
    """The deliveries of one formation, queued while it writes, chunk by chunk.

    The subscribed webhooks are read once, when the formation starts. Each keeps fewer
    than SEGSEARCH_WEBHOOK_BATCH_SIZE events waiting: a full batch is queued at once, the
    rest with the summary at the end. So the batches are those of the whole formation's
    events in one list (entries, leaves, summary), memory stays bounded, and a formation
    that dies half-way has already queued most of the events of what it wrote.
    """

    def __init__(self, services: Services, code: str, reason: str | None,
                 types: Sequence[str] = EVENT_TYPES):
        self.services, self.code, self.reason = services, code, reason
        self.size = int(services.config["WEBHOOK_BATCH_SIZE"])
        self.retry = retry_policy(services.config)
        self.webhooks = [{**w, "events": [e for e in w["events"] if e in types]}
                         for w in WebhookStore(services.es, services.indices).subscribed(types)]
        self.waiting: dict[str, list[dict]] = {w["id"]: [] for w in self.webhooks}

    def add(self, entered: Sequence[str], left: Sequence[str], at: str | None = None) -> int:
        """Events of customers just written; queues every full batch. Returns the job count."""
        if not self.webhooks or not (entered or left):
            return 0
        at, jobs = at or clock.now_iso(), []
        for webhook in self.webhooks:
            waiting = self.waiting[webhook["id"]]
            waiting.extend(formation_events(self.code, {"reason": self.reason}, entered, left, at,
                                            [e for e in webhook["events"] if e != FORMED]))
            while len(waiting) >= self.size:
                jobs.append(self._job(webhook, waiting[:self.size]))
                del waiting[:self.size]
        return self._enqueue(jobs)

    def finish(self, result: dict, at: str | None = None) -> int:
        """The summary (for subscribers of segment.formed) and every event still waiting."""
        at, jobs = at or clock.now_iso(), []
        for webhook in self.webhooks:
            waiting = self.waiting[webhook["id"]]
            waiting.extend(formation_events(self.code, {**result, "reason": self.reason}, (), (),
                                            at, [e for e in webhook["events"] if e == FORMED]))
            jobs += [self._job(webhook, batch) for batch in batches(waiting, self.size)]
            waiting.clear()
        return self._enqueue(jobs)

    def _job(self, webhook: dict, batch: list[dict]) -> Any:
        # The job id doubles as the delivery id: stable across retries, for dedup.
        job_id = f"{self.services.indices.prefix}delivery-{uuid.uuid4().hex}"
        return Queue.prepare_data(
            DELIVER_JOB, args=(self.services.indices.prefix, webhook["id"], batch),
            job_id=job_id, timeout=DELIVERY_TIMEOUT, result_ttl=JOB_TTL,
            failure_ttl=JOB_TTL, retry=self.retry,
            description=f"webhook {webhook['id']}: {len(batch)} events of {self.code}")

    def _enqueue(self, jobs: list) -> int:
        for chunk in batches(jobs, ENQUEUE_CHUNK):
            self.services.queue.enqueue_many(chunk)  # one pipeline per chunk
        return len(jobs)


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
