"""GET /healthz (no auth): each dependency's state, 503 naming the failing part."""
from __future__ import annotations

from flask_smorest import Blueprint
from rq import Worker

from segsearch.api import docs
from segsearch.extensions import services

blp = Blueprint("health", __name__, url_prefix="/", description="Liveness of the parts")


@blp.route("/healthz")
@blp.alt_response(200, schema=docs.Health, description="every part is up", success=True)
@blp.alt_response(503, schema=docs.Health, description="the failing part is named")
@blp.doc(security=[])
def healthz():
    svc = services()
    out, ok = {}, True
    try:
        health = svc.es.options(request_timeout=3).cluster.health()
        out["elasticsearch"] = "ok" if health["status"] in ("green", "yellow") else health["status"]
        svc.ensure_indices()
    except Exception as err:
        out["elasticsearch"] = f"unavailable: {type(err).__name__}"
    try:
        svc.redis.ping()
        out["redis"] = "ok"
        out["workers"] = Worker.count(connection=svc.redis)
    except Exception as err:
        out["redis"] = f"unavailable: {type(err).__name__}"
        out["workers"] = 0
    ok = out["elasticsearch"] == "ok" and out["redis"] == "ok"
    return out, 200 if ok else 503
