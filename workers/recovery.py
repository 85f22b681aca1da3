"""Prompt recovery of jobs whose worker died (SIGKILL, OOM, power loss).

RQ notices an abandoned job only when its started-registry entry expires
(job_monitoring_interval + 60 s) and a worker's periodic maintenance runs (every 10
minutes by default). The scheduler checks each started job's worker directly, every few
seconds: a worker whose registration is gone has abandoned its job; so has one on this
host whose pid is dead; and so has one on another host whose job stopped beating (its
worker refreshes the job's heartbeat every HEARTBEAT_SECONDS while it runs, see
workers/worker.py) for SILENCE_SECONDS. Such a job is retried (it keeps its id and its
retries) or failed.
"""
from __future__ import annotations

import os
import socket
from datetime import datetime, timezone

from redis import Redis
from rq import Queue, Worker
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, StartedJobRegistry
from rq.worker import BaseWorker

HEARTBEAT_SECONDS = 5  # a working worker refreshes its job's heartbeat this often
SILENCE_SECONDS = 30  # a job on another host that has not beaten for this long is abandoned


def _alive(worker: BaseWorker | None, job: Job, now: datetime | None = None) -> bool:
    if worker is None:
        return False
    if worker.hostname != socket.gethostname() or not worker.pid:
        # Another host: its pid means nothing here, so the job's heartbeat decides.
        beat = job.last_heartbeat or job.started_at
        if beat is None:
            return True
        if beat.tzinfo is None:
            beat = beat.replace(tzinfo=timezone.utc)
        return ((now or datetime.now(timezone.utc)) - beat).total_seconds() < SILENCE_SECONDS
    try:
        os.kill(worker.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_abandoned(queue: Queue, connection: Redis) -> list[str]:
    """Retry (or fail) every started job of `queue` whose worker is dead; their ids."""
    registry = StartedJobRegistry(queue=queue)
    recovered = []
    for job_id in registry.get_job_ids():
        job = Job.fetch(job_id, connection=connection)
        worker = Worker.find_by_key(Worker.redis_worker_namespace_prefix + (job.worker_name or ""),
                                    connection=connection) if job.worker_name else None
        if _alive(worker, job):
            continue
        with connection.pipeline() as pipe:
            registry.remove(job, pipeline=pipe)
            if job.retries_left:
                job.retry(queue, pipe)
            else:
                job.set_status(JobStatus.FAILED, pipeline=pipe)
                FailedJobRegistry(queue=queue).add(job, job.failure_ttl, pipeline=pipe,
                                                   exc_string="worker died", _save_exc_to_job=True)
            pipe.execute()
        if worker is not None:
            worker.register_death()
        recovered.append(job_id)
    return recovered
