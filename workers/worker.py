"""`python -m workers.worker`: one RQ worker on this instance's queue, surviving Redis outages.

RQ's own loop waits out a connection error only while it is blocked on the queue; one
anywhere else (a heartbeat, maintenance, its start or its teardown) ends `work()`. So the
worker runs in a loop: when `work()` ends without a stop request, a fresh worker starts
after a pause (1 s, doubling to 30 s) until Redis answers again.
"""
from __future__ import annotations

import logging
import os
import signal
import threading

from redis.exceptions import RedisError
from rq import Worker

from segsearch import config as settings
from workers.context import services_for
from workers.recovery import HEARTBEAT_SECONDS

log = logging.getLogger("segsearch.worker")
MAX_PAUSE = 30.0
_stop = threading.Event()


class StoppableWorker(Worker):
    """Remembers a SIGTERM/SIGINT so the restart loop ends with it."""

    def request_stop(self, signum, frame):
        _stop.set()
        super().request_stop(signum, frame)


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    svc = services_for(settings.from_env()["INDEX_PREFIX"])
    pause = 1.0
    while not _stop.is_set():
        try:
            worker = StoppableWorker([svc.queue], connection=svc.redis,
                                     job_monitoring_interval=HEARTBEAT_SECONDS)
            # A host name shared by several machines (containers) can be made unique here.
            worker.hostname = os.environ.get("SEGSEARCH_WORKER_HOST") or worker.hostname
            worked = worker.work(with_scheduler=True)
            pause = 1.0 if worked else pause
        except RedisError as err:
            log.error("worker stopped by a Redis error (%s: %s)", type(err).__name__, err)
        if _stop.is_set():
            break
        for sig in (signal.SIGTERM, signal.SIGINT):  # RQ's handlers belong to the old worker
            signal.signal(sig, lambda *_: _stop.set())
        log.warning("restarting the worker in %.0f s", pause)
        _stop.wait(pause)
        pause = min(pause * 2, MAX_PAUSE)


if __name__ == "__main__":
    main()
