"""`python -m workers.scheduler`: keeps time for the RQ side.

Every few seconds it retries jobs whose worker died (workers.recovery), queues the
recorded formation requests that are due (segsearch.segments.jobs.drain: new, edited,
deleted, recalculate requests, and failed ones after their back-off) and reports
failures that could not be written while Elasticsearch was down. Every minute it scans
the stored segments for what is due by the clock (Engine.due: dynamic ones every
SEGSEARCH_RECALC_INTERVAL_SECONDS, pending, starting, expiring ones, deleted ones still
on customers) and makes sure each has a recorded request.

Each part runs in its own try: Elasticsearch down must not stop the Redis side, and a
connection error (Redis or Elasticsearch restarting) only skips a round.
"""
from __future__ import annotations

import logging
import signal
import time

from segsearch import config as settings
from workers.context import services_for
from workers.recovery import recover_abandoned

log = logging.getLogger("segsearch.scheduler")
TICK_SECONDS = 60
RECOVERY_SECONDS = 5


def tick(prefix: str) -> int:
    """Record a request for every segment due by the clock; returns how many are due."""
    from segsearch.segments.engine import Engine
    svc = services_for(prefix)
    engine = Engine(svc)
    due = engine.due()
    for code, reason in due:
        engine.work.ensure(code, reason)  # a no-op while its formation holds the record
    return len(due)


def drain(prefix: str) -> list[str]:
    """Queue the due recorded requests (one job per segment); the codes queued."""
    from segsearch.segments.jobs import drain as drain_requests
    queued = drain_requests(services_for(prefix))
    if queued:
        log.info("queued formations: %s", queued)
    return queued


def report(prefix: str) -> int:
    """Write failures recorded while Elasticsearch was down into their segments."""
    from segsearch.segments.failure import report_pending
    return report_pending(services_for(prefix))


def recover(prefix: str) -> list[str]:
    svc = services_for(prefix)
    recovered = recover_abandoned(svc.queue, svc.redis)
    if recovered:
        log.warning("retrying jobs whose worker died: %s", recovered)
    return recovered


def round_(prefix: str, last_tick: float) -> float:
    """One round; returns the time of the last clock scan."""
    for part in (recover, report, drain):  # a failure is told before its retry is queued
        try:
            part(prefix)
        except Exception as err:  # noqa: BLE001 - keep the clock running; the next round retries
            log.error("scheduler: %s failed: %s: %s", part.__name__, type(err).__name__, err)
    if time.monotonic() - last_tick >= TICK_SECONDS:
        try:
            tick(prefix)
            last_tick = time.monotonic()
        except Exception as err:  # noqa: BLE001 - same: the next minute retries
            log.error("scheduler: tick failed: %s: %s", type(err).__name__, err)
    return last_tick


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    prefix = settings.from_env()["INDEX_PREFIX"]
    stopping: list[bool] = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    log.info("scheduler started (prefix %s)", prefix)
    last_tick = -float(TICK_SECONDS)
    while not stopping:
        last_tick = round_(prefix, last_tick)
        time.sleep(RECOVERY_SECONDS)


if __name__ == "__main__":
    main()
