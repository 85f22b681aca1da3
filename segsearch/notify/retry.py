"""The retry policy of webhook deliveries, from the WEBHOOK_RETRY_INTERVALS setting."""
from __future__ import annotations

from typing import Any

from rq import Retry


def parse_intervals(value: str | list[int] | tuple[int, ...]) -> list[int]:
    """"10,60,300" -> [10, 60, 300]; "none" or "" -> [] (no retries). ValueError if malformed."""
    if isinstance(value, (list, tuple)):
        items = [int(v) for v in value]
    else:
        text = str(value).strip().lower()
        items = [] if text in ("", "none") else [int(part) for part in text.split(",")]
    if any(i < 0 for i in items):
        raise ValueError(f"retry intervals must not be negative: {value!r}")
    return items


def retry_policy(config: dict[str, Any]) -> Retry | None:
    """One retry per interval; a zero interval re-enqueues at once (no scheduler needed)."""
    intervals = parse_intervals(config["WEBHOOK_RETRY_INTERVALS"])
    if not intervals:
        return None
    return Retry(max=len(intervals), interval=intervals)


def total_delay(config: dict[str, Any]) -> int:
    """Seconds of waiting between the first attempt and the last retry (timeouts aside)."""
    return sum(parse_intervals(config["WEBHOOK_RETRY_INTERVALS"]))
