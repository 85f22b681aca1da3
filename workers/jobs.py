"""Job functions: ids in, one call into segsearch's services, progress in job.meta."""
from __future__ import annotations

import resource
import time

from rq import get_current_job

from segsearch import metrics
from workers.context import services_for


def _progress(fraction: float) -> None:
    job = get_current_job()
    if job is not None:
        job.meta["progress"] = round(fraction, 4)
        job.save_meta()


def rederive_products(prefix: str, product_ids: list[str]) -> dict:
    """Customers who bought these products get their product groups recomputed."""
    n = services_for(prefix).feed.rederive_for_products(product_ids, progress=_progress)
    _progress(1.0)
    return {"customers": n}


def form_segment(prefix: str, code: str, reason: str) -> dict:
    """Form (or re-form, or empty) one segment; joins a formation already running."""
    from segsearch.segments.engine import Engine
    job = get_current_job()
    svc = services_for(prefix)
    started = time.monotonic()
    try:
        result = Engine(svc).form(code, reason, progress=_progress, owner=job.id if job else None)
    except Exception:
        metrics.record(svc.redis, prefix, formations=1, formation_failures=1,
                       formation_seconds=time.monotonic() - started)
        raise
    metrics.record(svc.redis, prefix, formations=1, formation_seconds=time.monotonic() - started,
                   members_written=int(result.get("entered", 0)) + int(result.get("left", 0)))
    _progress(1.0)
    # The forked work horse's own peak (Linux: KiB), so a formation's memory is visible
    # (the bench reports it per segment; the long-lived worker's RSS does not show it).
    return {**result, "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
