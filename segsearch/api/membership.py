"""Formation jobs, history and dynamics over HTTP (CONTRACT section 4)."""
from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from segsearch.api import docs
from segsearch.api.security import requires
from segsearch.extensions import services
from segsearch.segments import jobs, roster
from segsearch.segments.store import SegmentStore

blp = Blueprint("membership", __name__, url_prefix="/api/v1", description="Formation and history")


@blp.route("/segments/<string:code>/recalculate", methods=["POST"])
@requires("segments:write")
@blp.alt_response(202, schema=docs.JobQueued, success=True)
@blp.alt_response(404, response="NOT_FOUND")
@blp.doc(summary="Queue a formation now; 202 {job_id} (no body)")
def recalculate(code: str):
    svc = services()
    SegmentStore(svc.es, svc.indices).get(code)  # 404 for an unknown segment
    # One formation job per segment: a request while one is queued or running joins it.
    return {"job_id": jobs.request_formation(svc, code, "manual")}, 202


@blp.route("/jobs/<string:job_id>", methods=["GET"])
@requires("segments:read")
@blp.alt_response(200, schema=docs.JobOut, success=True)
@blp.alt_response(404, response="NOT_FOUND")
@blp.doc(summary="A job's status, progress (0..1) and result")
def job_status(job_id: str):
    return jobs.job_state(services().redis, job_id)


def _events(size: int, **which: str) -> list[dict]:
    svc = services()
    return roster.events(svc.es, svc.indices, size=size, **which)


class HistoryArgs(Schema):
    """?page_size= of a history: the newest events, 1..1000 (a 422 outside)."""

    page_size = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


@blp.route("/customers/<string:customer_id>/segment-history", methods=["GET"])
@requires("customers:read")
@blp.arguments(HistoryArgs, location="query", as_kwargs=False)
@blp.alt_response(200, schema=docs.CustomerEvent(many=True), success=True)
@blp.doc(summary="The customer's enter/leave events, newest first")
def customer_history(args: dict, customer_id: str):
    events = _events(args["page_size"], customer_id=customer_id)
    return [{"segment": e["segment"], "event": e["event"], "at": e["at"], "reason": e["reason"]}
            for e in events]


@blp.route("/segments/<string:code>/history", methods=["GET"])
@requires("segments:read")
@blp.arguments(HistoryArgs, location="query", as_kwargs=False)
@blp.alt_response(200, schema=docs.SegmentEvent(many=True), success=True)
@blp.doc(summary="The segment's enter/leave events, newest first")
def segment_history(args: dict, code: str):
    events = _events(args["page_size"], segment=code)
    return [{"customer_id": e["customer_id"], "event": e["event"], "at": e["at"],
             "reason": e["reason"]} for e in events]


@blp.route("/segments/<string:code>/dynamics", methods=["GET"])
@requires("segments:read")
@blp.arguments(HistoryArgs, location="query", as_kwargs=False)
@blp.alt_response(200, schema=docs.DynamicsPoint(many=True), success=True)
@blp.doc(summary="One point per formation: count, entered, left, took")
def segment_dynamics(args: dict, code: str):
    events = _events(args["page_size"], kind="formation", segment=code)
    return [{k: e.get(k) for k in ("at", "count", "entered", "left", "took_ms", "reason")}
            for e in reversed(events)]
