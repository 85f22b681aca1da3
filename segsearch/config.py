"""Every setting with its default. Environment variables override (see README)."""
from __future__ import annotations

import os
from typing import Any

DEFAULTS: dict[str, Any] = {
    # An external cluster instead of the embedded node started by the scripts.
    "ES_URL": "http://127.0.0.1:9200",
    # Credentials and TLS for a secured cluster (CONTRACT 6.7): an API key, or a user and
    # password; the CA file that signed the nodes' certificates.
    "ES_API_KEY": None,
    "ES_USERNAME": None,
    "ES_PASSWORD": None,
    "ES_CA_CERTS": None,
    # Shards and replicas of the customers index (the small indices keep one shard; their
    # replicas follow REPLICAS). Shards take effect for a new index (reindex to change).
    "SHARDS": 1,
    "REPLICAS": 0,
    "REDIS_URL": "redis://127.0.0.1:6380/0",
    # Index and queue names are prefixed so several instances (and tests) share a node.
    "INDEX_PREFIX": "segsearch-",
    # Accepted as an admin bearer token: for automation and the first start.
    "BOOTSTRAP_TOKEN": None,
    # Dynamic segments are re-formed this often (the seeds' four hours).
    "RECALC_INTERVAL_SECONDS": 14400,
    # A failed formation is retried after these pauses (seconds; the last one repeats).
    "FORMATION_RETRY_SECONDS": "30,120,600,3600",
    # Chunks of a formation written at once. One leaves the node's other write thread to
    # the live feed and the real-time follower; two form ~25-40% faster but starved them
    # (bench/profiles/README.md, "The live feed beside a formation").
    "FORMATION_STREAMS": 1,
    # The share of the time a formation writes while somebody is using the system
    # (segments.pacing): it pauses between chunks so previews and the live feed keep the
    # node's cores, 10 minutes in all at most. 1 = never pause.
    "FORMATION_DUTY": 0.5,
    # Contiguous ranges a CSV export reads in parallel (1 = one stream; measured at 1M:
    # bench/results, 8,655 rows/s with one, 9,984 with two).
    "EXPORT_SLICES": 2,
    # The calendar day used by relative dates and day-level date comparisons.
    "TIMEZONE": "UTC",
    "PORT": 8000,
    # Log lines: "json" (one object per line, with request / job ids) or "text".
    "LOG_FORMAT": "json",
    # Signs the admin UI's session cookie (env SEGSEARCH_SECRET_KEY). None: a random key is
    # generated at start, so admin sessions do not survive a restart and are not shared
    # between processes; set it when several web processes serve the admin.
    "SECRET_KEY": None,
    # Upper bound of one bulk request body (items).
    "BULK_MAX_ITEMS": 5000,
    # Largest request body accepted (bytes); a larger one is a 413 before it is read.
    # 16 MiB holds a full 5000-item bulk of ordinary customers with room to spare.
    "MAX_BODY_BYTES": 16 * 1024 * 1024,
    # Optimistic-concurrency retries for one customer document before giving up (409).
    "OCC_RETRIES": 20,
    # E-mail notifications: off while SMTP_HOST is unset (in-app notifications still work).
    "SMTP_HOST": None,
    "SMTP_PORT": 25,
    "SMTP_USER": None,
    "SMTP_PASSWORD": None,
    "SMTP_FROM": "segsearch@localhost",
    "SMTP_STARTTLS": False,
    # Webhook deliveries: events per POST, request timeout, and the pause before each retry
    # (seconds, comma-separated; one retry per entry; "none" = no retries).
    "WEBHOOK_BATCH_SIZE": 500,
    "WEBHOOK_TIMEOUT_SECONDS": 10,
    "WEBHOOK_RETRY_INTERVALS": "10,60,300,900,3600",
    # Real-time membership (segsearch/realtime/): feed writes mark customers, the follower
    # (python -m workers.follower) re-evaluates them. False: no marks, the follower idles.
    "REALTIME": True,
    # A follower batch: at most this many customers, gathered for at most LINGER_MS.
    "REALTIME_BATCH_SIZE": 500,
    "REALTIME_LINGER_MS": 200,
    # A batch's customers are leased for this long: a follower killed mid-batch delays
    # them by at most this much, and a batch must finish well within it.
    "REALTIME_LEASE_SECONDS": 30,
    # Webhook URLs on loopback, private, link-local... addresses are refused (at creation and
    # at every delivery) so a webhook cannot reach Elasticsearch, Redis or the private
    # network; true for tests and single-host setups whose receiver is local.
    "WEBHOOK_ALLOW_PRIVATE": False,
}

# Environment names: ES_URL and REDIS_URL are bare (the contract), the rest SEGSEARCH_*.
_BARE = {"ES_URL", "REDIS_URL", "ES_API_KEY", "ES_USERNAME", "ES_PASSWORD", "ES_CA_CERTS"}


def from_env(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Defaults overridden by the environment, values coerced to the default's type."""
    env = os.environ if environ is None else environ
    config = dict(DEFAULTS)
    for key, default in DEFAULTS.items():
        name = key if key in _BARE else f"SEGSEARCH_{key}"
        if name in env and env[name] != "":
            config[key] = _coerce(env[name], default)
    return config


def _coerce(value: str, default: Any) -> Any:
    if isinstance(default, bool):
        return value.lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(value)
    return value


def validate(config: dict[str, Any]) -> None:
    """Fail at start, not at the first request, on settings that cannot work."""
    from zoneinfo import ZoneInfo

    ZoneInfo(config["TIMEZONE"])  # raises for an unknown zone
    if int(config["RECALC_INTERVAL_SECONDS"]) < 60:
        raise ValueError("SEGSEARCH_RECALC_INTERVAL_SECONDS must be at least 60")
    from segsearch.segments.worklog import parse_backoff

    parse_backoff(config["FORMATION_RETRY_SECONDS"])  # raises for a malformed list
    from segsearch.notify.retry import parse_intervals

    parse_intervals(config["WEBHOOK_RETRY_INTERVALS"])  # raises for a malformed list
    if not 1 <= int(config["SHARDS"]) <= 1024 or not 0 <= int(config["REPLICAS"]) <= 16:
        raise ValueError("SEGSEARCH_SHARDS must be within 1..1024 and SEGSEARCH_REPLICAS within 0..16")
    if int(config["MAX_BODY_BYTES"]) < 1024:
        raise ValueError("SEGSEARCH_MAX_BODY_BYTES must be at least 1024")
    if not 1 <= int(config["FORMATION_STREAMS"]) <= 16:
        raise ValueError("SEGSEARCH_FORMATION_STREAMS must be within 1..16")
    if not 0.05 <= float(config["FORMATION_DUTY"]) <= 1:
        raise ValueError("SEGSEARCH_FORMATION_DUTY must be within 0.05..1")
    if not 1 <= int(config["EXPORT_SLICES"]) <= 8:
        raise ValueError("SEGSEARCH_EXPORT_SLICES must be within 1..8")
    if not 1 <= int(config["WEBHOOK_BATCH_SIZE"]) <= 10_000:
        raise ValueError("SEGSEARCH_WEBHOOK_BATCH_SIZE must be within 1..10000")
    if not 1 <= int(config["REALTIME_BATCH_SIZE"]) <= 5_000:
        raise ValueError("SEGSEARCH_REALTIME_BATCH_SIZE must be within 1..5000")
    if int(config["REALTIME_LEASE_SECONDS"]) < 1 or int(config["REALTIME_LINGER_MS"]) < 0:
        raise ValueError("SEGSEARCH_REALTIME_LEASE_SECONDS must be >= 1, _LINGER_MS >= 0")
