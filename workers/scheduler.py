"""`python -m workers.scheduler`: wakes every minute and enqueues what is due.

Due work (dynamic segments every SEGSEARCH_RECALC_INTERVAL_SECONDS) is found by
segsearch's services; this loop only keeps time.
"""
from __future__ import annotations

import logging
import signal
import time

from segsearch import config as settings
from workers.context import services_for

log = logging.getLogger("segsearch.scheduler")
TICK_SECONDS = 60


def tick(prefix: str) -> int:
    """Enqueue everything due now; returns how many jobs were enqueued."""
    from segsearch.segments.engine import Engine
    svc = services_for(prefix)
    due = Engine(svc).due()
    for code, reason in due:
        svc.enqueue("workers.jobs.form_segment", prefix, code, reason)
    return len(due)


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    prefix = settings.from_env()["INDEX_PREFIX"]
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    log.info("scheduler started (prefix %s)", prefix)
    while not stopping:
        try:
            tick(prefix)
        except Exception:  # keep the clock running; the next tick retries
            log.exception("scheduler tick failed")
        for _ in range(TICK_SECONDS):
            if stopping:
                break
            time.sleep(1)


if __name__ == "__main__":
    main()
