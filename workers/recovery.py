"""Prompt recovery of jobs whose worker died (SIGKILL, OOM, power loss).

RQ notices an abandoned job only when its started-registry entry expires
(job_monitoring_interval + 60 s) and a worker's periodic maintenance runs (every 10
minutes by default). On this deployment every worker runs on the scheduler's host, so
the scheduler checks each started job's worker directly: a worker whose heartbeat key is
gone, or whose pid on this host is dead, has abandoned its job, which is then retried
(the job keeps its id and its retries) or failed. The scheduler runs this every few seconds.
"""
from __future__ import annotations

import os
import socket

from redis import Redis
from rq import Queue, Worker
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, StartedJobRegistry
from rq.worker import BaseWorker


def _alive(worker: BaseWorker | None) -> bool:
    if worker is None:
        return False
    if worker.hostname != socket.gethostname() or not worker.pid:
        return True  # another host: leave it to RQ's own expiry
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
        if _alive(worker):
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
