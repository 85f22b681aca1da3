"""Formation requests and their RQ jobs: record first, then at most one queued job per segment.

`request_formation` is what the API, the admin and the scheduler call. It records the
request durably (segsearch.segments.worklog) and then queues the formation job under a
deterministic id, `<prefix>form-<code>`, unless that job is already queued or running: a
running formation sees the new request when it tries to close its entry and runs once
more. If the enqueue fails, the entry stays and `drain` (run by the scheduler every few
seconds) queues it; nothing depends on one enqueue succeeding.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from redis import Redis, WatchError
from redis.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry, FinishedJobRegistry

from segsearch.errors import NotFound
from segsearch.extensions import RedisUnavailable
from segsearch.segments.worklog import WorkLog

if TYPE_CHECKING:
    from segsearch.extensions import Services

log = logging.getLogger(__name__)

FORM_JOB = "workers.jobs.form_segment"
# A job in one of these states will (or does) run: queueing another would run it twice.
LIVE = {b"queued", b"started", b"scheduled", b"deferred"}
ENQUEUE_ATTEMPTS = 3
# RQ's statuses as clients see them: waiting ones are "queued", ended-early ones "failed".
REPORTED_STATUS = {"deferred": "queued", "scheduled": "queued", "stopped": "failed",
                   "canceled": "failed"}


def work_log(services: Services) -> WorkLog:
    return WorkLog(services.redis, services.indices.prefix)


def job_id(prefix: str, code: str) -> str:
    """The one id every formation job of `code` has (codes are [a-z0-9_-])."""
    return f"{prefix}form-{code}"


def record_request(services: Services, code: str, reason: str) -> None:
    """Record that `code` needs a formation; RedisUnavailable (503) if Redis is down.

    Called before the segment write it stands for, so a 503 leaves nothing half-done.
    """
    try:
        work_log(services).request(code, reason)
    except (RedisConnectionError, RedisTimeoutError) as err:
        raise RedisUnavailable(f"Redis is unreachable ({type(err).__name__}); "
                               "nothing was changed.") from None


def request_formation(services: Services, code: str, reason: str) -> str:
    """Record a request and queue its job (or find it queued); the job id."""
    record_request(services, code, reason)
    return try_enqueue(services, code, reason)


def try_enqueue(services: Services, code: str, reason: str) -> str:
    """Queue the formation job unless it is already live; the job id either way.

    A Redis error is logged, not raised: the recorded request is queued by `drain`.
    """
    try:
        enqueue_once(services, code, reason)
    except RedisError as err:
        log.error("formation of %r (%s) not queued now, the scheduler will: %s", code, reason, err)
    return job_id(services.indices.prefix, code)


def enqueue_once(services: Services, code: str, reason: str) -> bool:
    """Queue `form_segment(prefix, code, reason)` under its fixed id unless it is live.

    WATCH on the job's hash makes check-and-enqueue atomic: two callers cannot both
    queue it. RQ keeps a finished or failed job under its id for its TTL, so such a job
    is replaced (and dropped from its registry). A job marked queued counts as live only
    while its id is in the queue or in RQ's intermediate queue (popped, not yet started).
    Returns whether a job was queued.
    """
    prefix, queue = services.indices.prefix, services.queue
    jid = job_id(prefix, code)
    for _ in range(ENQUEUE_ATTEMPTS):
        with services.redis.pipeline() as pipe:
            try:
                pipe.watch(Job.key_for(jid))
                if _live(pipe, queue, jid):
                    return False
                # RQ starts the MULTI itself when handed a watching pipeline.
                services.enqueue(FORM_JOB, prefix, code, reason, job_id=jid, retry=None,
                                 description=f"form segment {code} ({reason})", pipeline=pipe)
                FinishedJobRegistry(queue=queue).remove(jid, pipeline=pipe)
                FailedJobRegistry(queue=queue).remove(jid, pipeline=pipe)
                pipe.execute()
                return True
            except WatchError:
                continue  # the job or the queue changed under us: look again
    return False


def _live(pipe: Pipeline, queue: Queue, jid: str) -> bool:
    status = pipe.hget(f"{Job.redis_job_namespace_prefix}{jid}", "status")
    if status not in LIVE:
        return False
    if status != b"queued":
        return True
    return any(pipe.lpos(key, jid) is not None
               for key in (queue.key, queue.intermediate_queue_key))


def job_state(redis: Redis, jid: str) -> dict:
    """{"id", "status", "progress" (0..1), "result"} of a job; NotFound (404) if unknown.

    The one status mapping the API's GET /jobs/{id} and the admin's progress bar share.
    """
    try:
        job = Job.fetch(jid, connection=redis)
    except NoSuchJobError:
        raise NotFound(f"Job {jid!r} not found.") from None
    raw = job.get_status(refresh=True)
    status = getattr(raw, "value", str(raw))
    status = REPORTED_STATUS.get(status, status)
    finished = status == "finished"
    return {"id": job.id, "status": status,
            "progress": 1.0 if finished else float(job.meta.get("progress", 0.0)),
            "result": job.return_value() if finished else None}


def drain(services: Services) -> list[str]:
    """Queue every recorded request that is due (the scheduler's round); the codes queued."""
    queued = []
    for code, reason in work_log(services).due():
        if enqueue_once(services, code, reason or "recalculation"):
            queued.append(code)
    return queued
