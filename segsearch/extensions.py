"""Services bound to the app in init_app and kept in app.extensions (no import-time state)."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from elasticsearch import Elasticsearch
from flask import Flask, current_app
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue, Retry

from segsearch.auth.tokens import TokenStore
from segsearch.errors import ServiceError
from segsearch.feed.catalog import CatalogVersion
from segsearch.feed.service import Feed
from segsearch.search import indices as idx
from segsearch.search.client import client_from_config
from segsearch.search.indices import Indices

log = logging.getLogger(__name__)


class RedisUnavailable(ServiceError):
    """Redis cannot be reached, so a write that needs it was refused before it began: 503."""

    status = 503


@dataclass
class Services:
    config: dict[str, Any]
    es: Elasticsearch
    redis: Redis
    indices: Indices
    feed: Feed
    tokens: TokenStore
    queue: Queue
    ready: bool = field(default=False)

    def enqueue(self, func: str, *args: Any, **options: Any):
        """The one enqueue wrapper: timeouts, retries and TTLs are set here.

        `options` (RQ's: job_id, retry, description, pipeline...) override the defaults;
        formation jobs pass retry=None: their back-off is the scheduler's, not RQ's.
        """
        defaults = {"job_timeout": 3600, "result_ttl": 86400, "failure_ttl": 86400,
                    "retry": Retry(max=3, interval=[5, 30, 120])}
        return self.queue.enqueue(func, *args, **{**defaults, **options})

    def require_redis(self) -> None:
        """RedisUnavailable (503) unless Redis answers: checked before a write that will need
        a job, so an outage refuses the write instead of leaving it half-applied."""
        try:
            self.redis.ping()
        except (RedisConnectionError, RedisTimeoutError) as err:
            raise RedisUnavailable(f"Redis is unreachable ({type(err).__name__}); "
                                   "nothing was changed.") from None

    def ensure_indices(self) -> bool:
        """Templates and aliases in place; False (and retried later) while ES is down."""
        if not self.ready:
            try:
                idx.ensure(self.es, self.indices)
                self.ready = True
            except Exception as err:  # the node may still be starting
                log.warning("Elasticsearch not ready: %s", err)
        return self.ready


def build_services(config: dict[str, Any]) -> Services:
    es = client_from_config(config)
    indices = Indices(config["INDEX_PREFIX"], shards=int(config["SHARDS"]),
                      replicas=int(config["REPLICAS"]))
    # A connect timeout, so a Redis that does not answer fails a request instead of hanging it.
    redis = Redis.from_url(config["REDIS_URL"], socket_connect_timeout=5)
    feed = Feed(es, indices, occ_retries=config["OCC_RETRIES"])
    feed.catalog.version = CatalogVersion(redis, config["INDEX_PREFIX"])  # lets it cache
    return Services(
        config=config, es=es, redis=redis, indices=indices,
        queue=Queue(f"{config['INDEX_PREFIX']}default", connection=redis),
        feed=_with_realtime(feed, redis, config),
        tokens=TokenStore(es, indices, config.get("BOOTSTRAP_TOKEN")),
    )


def _with_realtime(feed: Feed, redis: Redis, config: dict[str, Any]) -> Feed:
    """Real-time membership: the feed marks every customer it writes (segsearch/realtime)."""
    if config.get("REALTIME", True):
        from segsearch.realtime.changes import PendingChanges, PendingSink
        feed.changes = PendingSink(PendingChanges(redis, config["INDEX_PREFIX"]))
    return feed


def init_app(app: Flask) -> Services:
    services = build_services(app.config["SEGSEARCH"])
    app.extensions["segsearch"] = services
    services.ensure_indices()
    return services


def services() -> Services:
    return current_app.extensions["segsearch"]
