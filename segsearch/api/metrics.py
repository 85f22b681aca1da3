"""GET /metrics: Prometheus text format (request latencies, jobs, formations, webhooks)."""
from __future__ import annotations

from flask import Response, current_app
from flask_smorest import Blueprint

from segsearch import metrics
from segsearch.api.security import requires

blp = Blueprint("metrics", __name__, url_prefix="/", description="Operations")


@blp.route("/metrics", methods=["GET"])
@requires("segments:read")
@blp.response(200, content_type=metrics.CONTENT_TYPE)
@blp.doc(summary="Prometheus metrics (a viewer token is enough to scrape)")
def metrics_text() -> Response:
    return Response(metrics.exposition(current_app), content_type=metrics.CONTENT_TYPE)
