"""`python -m workers.worker`: one RQ worker on this instance's queue."""
from __future__ import annotations

import logging

from rq import Worker

from segsearch import config as settings
from workers.context import services_for


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    config = settings.from_env()
    svc = services_for(config["INDEX_PREFIX"])
    Worker([svc.queue], connection=svc.redis).work(with_scheduler=True)


if __name__ == "__main__":
    main()
