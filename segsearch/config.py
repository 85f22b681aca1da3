"""Every setting with its default. Environment variables override (see README)."""
from __future__ import annotations

import os
from typing import Any

DEFAULTS: dict[str, Any] = {
    # An external cluster instead of the embedded node started by the scripts.
    "ES_URL": "http://127.0.0.1:9200",
    "REDIS_URL": "redis://127.0.0.1:6380/0",
    # Index and queue names are prefixed so several instances (and tests) share a node.
    "INDEX_PREFIX": "segsearch-",
    # Accepted as an admin bearer token: for automation and the first start.
    "BOOTSTRAP_TOKEN": None,
    # Dynamic segments are re-formed this often (the seeds' four hours).
    "RECALC_INTERVAL_SECONDS": 14400,
    # The calendar day used by relative dates and day-level date comparisons.
    "TIMEZONE": "UTC",
    "PORT": 8000,
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
}

# Environment names: ES_URL and REDIS_URL are bare (the contract), the rest SEGSEARCH_*.
_BARE = {"ES_URL", "REDIS_URL"}


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
    from segsearch.notify.retry import parse_intervals

    parse_intervals(config["WEBHOOK_RETRY_INTERVALS"])  # raises for a malformed list
    if int(config["MAX_BODY_BYTES"]) < 1024:
        raise ValueError("SEGSEARCH_MAX_BODY_BYTES must be at least 1024")
    if not 1 <= int(config["WEBHOOK_BATCH_SIZE"]) <= 10_000:
        raise ValueError("SEGSEARCH_WEBHOOK_BATCH_SIZE must be within 1..10000")
