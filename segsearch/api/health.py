"""GET /healthz (no auth): each dependency's state, 503 naming the failing part.

Each check is bounded (3 s, no retries), so a dead dependency makes /healthz answer
503 quickly instead of hanging the probe.
"""
from __future__ import annotations

from elasticsearch import ApiError, TransportError
from flask_smorest import Blueprint
from redis.exceptions import RedisError
from rq import Worker

from segsearch.api import docs
from segsearch.extensions import Services, services

blp = Blueprint("health", __name__, url_prefix="/", description="Liveness of the parts")


def elasticsearch_state(svc: Services) -> str:
    """"ok", the cluster's colour when red, or why it cannot be reached."""
    try:
        health = svc.es.options(request_timeout=3, max_retries=0).cluster.health()
    except TransportError as err:
        return f"unreachable: {type(err).__name__}"
    except ApiError as err:
        return f"error: {err.status_code} {err.error}"
    if health["status"] not in ("green", "yellow"):
        return health["status"]
    return "ok" if svc.ensure_indices() else "indices not ready"


def redis_state(svc: Services) -> tuple[str, int]:
    """("ok", live workers) or (why Redis cannot be reached, 0)."""
    try:
        svc.redis.ping()
        return "ok", Worker.count(connection=svc.redis)
    except RedisError as err:
        return f"unreachable: {type(err).__name__}", 0


@blp.route("/healthz")
@blp.alt_response(200, schema=docs.Health, description="every part is up", success=True)
@blp.alt_response(503, schema=docs.Health, description="the failing part is named")
@blp.doc(security=[])
def healthz():
    svc = services()
    redis, workers = redis_state(svc)
    out = {"elasticsearch": elasticsearch_state(svc), "redis": redis, "workers": workers}
    ok = out["elasticsearch"] == "ok" and out["redis"] == "ok"
    return out, 200 if ok else 503
