"""Job functions: ids in, one call into segsearch's services, progress in job.meta."""
from __future__ import annotations

from rq import get_current_job

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
    result = Engine(services_for(prefix)).form(code, reason, progress=_progress,
                                               owner=job.id if job else None)
    _progress(1.0)
    return result
