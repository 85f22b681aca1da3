"""`python -m workers.follower`: real-time membership for this instance (several may run).

Takes batches of changed customers (segsearch.realtime.follower) until SIGTERM, which
lets the batch in hand finish. A failed batch stays pending and is retried after a
pause. With SEGSEARCH_REALTIME=false it idles (the feed marks nothing).
"""
from __future__ import annotations

import logging
import signal
import time

from segsearch import config as settings
from workers.context import services_for

log = logging.getLogger("segsearch.follower")
RETRY_PAUSE_SECONDS = 1.0
IDLE_SECONDS = 0.5


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    config = settings.from_env()
    stopping: list[bool] = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    if not config["REALTIME"]:
        log.info("SEGSEARCH_REALTIME is off: idling")
        while not stopping:
            time.sleep(IDLE_SECONDS)
        return
    from segsearch.realtime.follower import Follower
    follower = Follower(services_for(config["INDEX_PREFIX"]))
    log.info("follower started (prefix %s)", config["INDEX_PREFIX"])
    while not stopping:
        try:
            taken = follower.next_batch(lambda: bool(stopping))
            if taken:
                batch = follower.run_once(taken)
                moves = sum(map(len, batch.entered.values())) + sum(map(len, batch.left.values()))
                (log.info if moves else log.debug)("batch: %d customers, %d moves, %d ms",
                                                   batch.customers, moves, batch.took_ms)
        except Exception:  # Elasticsearch or Redis away: the batch stays pending
            log.exception("follower batch failed; retrying")
            time.sleep(RETRY_PAUSE_SECONDS)


if __name__ == "__main__":
    main()
