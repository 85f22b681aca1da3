"""`python -m workers.scheduler`: keeps time for the RQ side.

Every few seconds it retries jobs whose worker died (workers.recovery); every minute it
enqueues the segments that are due (segsearch.segments.engine.Engine.due): dynamic ones
every SEGSEARCH_RECALC_INTERVAL_SECONDS, pending, starting and expiring ones.
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
    """Enqueue every segment due now; returns how many jobs were enqueued."""
    from segsearch.segments.engine import Engine
    svc = services_for(prefix)
    due = Engine(svc).due()
    for code, reason in due:
        svc.enqueue("workers.jobs.form_segment", prefix, code, reason)
    return len(due)


def recover(prefix: str) -> list[str]:
    svc = services_for(prefix)
    recovered = recover_abandoned(svc.queue, svc.redis)
    if recovered:
        log.warning("retrying jobs whose worker died: %s", recovered)
    return recovered


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    prefix = settings.from_env()["INDEX_PREFIX"]
    stopping: list[bool] = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    log.info("scheduler started (prefix %s)", prefix)
    last_tick = 0.0
    while not stopping:
        try:
            recover(prefix)
            if time.monotonic() - last_tick >= TICK_SECONDS:
                last_tick = time.monotonic()
                tick(prefix)
        except Exception:  # keep the clock running; the next round retries
            log.exception("scheduler round failed")
        time.sleep(RECOVERY_SECONDS)


if __name__ == "__main__":
    main()
