"""Stored segments over HTTP (CONTRACT section 4): list, create, read, edit, delete.

`POST /segments/preview` lives in api/rules.py. Werkzeug ranks the static rule above
`/segments/<code>`, and "preview" is a reserved code, so the two never meet: a GET of
/segments/preview reaches the segment view and is a 404 like any unknown code.
"""
from __future__ import annotations

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint

from segsearch import clock
from segsearch.api.rules import current_fields
from segsearch.api.security import refresh_arg, requires
from segsearch.extensions import services
from segsearch.segments import jobs
from segsearch.segments.deps import SegmentDeps
from segsearch.segments.explain import ExplainService
from segsearch.segments.insight_schemas import ExplainArgs, ExplainOut, OverlapArgs, OverlapOut
from segsearch.segments.overlap import overlap
from segsearch.segments.schemas import SegmentCreate, SegmentListArgs, SegmentOut, SegmentPage, SegmentPatch
from segsearch.segments.service import SegmentService
from segsearch.segments.store import SegmentStore

blp = Blueprint("segments", __name__, url_prefix="/api/v1", description="Stored segments")

# The catalogue is read per request (custom fields are registered at run time).
_context = {"fields": current_fields}
REFRESH = {"in": "query", "name": "refresh", "required": False,
           "schema": {"type": "string", "enum": ["wait_for"]},
           "description": "the write is visible to search when the response returns"}


def enqueue_formation(code: str, reason: str) -> None:
    """The service's on_change hook: queue the formation (once per segment).

    The request is already recorded (record_formation), so a Redis outage now only
    delays it: the scheduler queues it when Redis answers again.
    """
    jobs.try_enqueue(services(), code, reason)


def record_formation(code: str, reason: str) -> None:
    """The service's before_change hook: record the request durably; 503 if Redis is down."""
    jobs.record_request(services(), code, reason)


def segment_service() -> SegmentService:
    """The service bound to this app's indices, with the formation hooks."""
    svc = services()
    store = SegmentStore(svc.es, svc.indices, occ_retries=svc.config["OCC_RETRIES"])
    deps = SegmentDeps(svc.es, svc.indices.segments)
    return SegmentService(store, on_change=enqueue_formation, tz=svc.config["TIMEZONE"],
                          customers_index=svc.indices.customers, before_change=record_formation,
                          check_rule=lambda code, rule: deps.check(rule, code))


def explain_service() -> ExplainService:
    """Explain bound to this app's indices, today's catalogue and today's date."""
    svc = services()
    tz = svc.config["TIMEZONE"]
    return ExplainService(svc.es, svc.indices, current_fields(), today=clock.today(tz), timezone=tz)


@blp.route("/segments/explain", methods=["POST"])
@requires("segments:read")
@blp.arguments(ExplainArgs)
@blp.response(200, ExplainOut)
@blp.alt_response(404, response="NOT_FOUND", description="unknown customer or segment code")
@blp.doc(summary="Why a customer does (not) match a rule or segment: per group and condition "
                 "truth and the customer's values, from the same compiled queries as preview")
def segments_explain(args):
    return explain_service().explain(args["customer_id"], rule=args.get("rule"),
                                     code=args.get("code"))


@blp.route("/segments/overlap", methods=["POST"])
@requires("segments:read")
@blp.arguments(OverlapArgs)
@blp.response(200, OverlapOut)
@blp.alt_response(404, response="NOT_FOUND", description="an unknown segment code")
@blp.doc(summary="Counts, pairwise intersections and union of 2..20 segments' stored "
                 "membership, in one search")
def segments_overlap(args):
    svc = services()
    return overlap(svc.es, svc.indices.customers, svc.indices.segments, args["codes"])


@blp.route("/segments")
class Segments(MethodView):
    @requires("segments:read")
    @blp.arguments(SegmentListArgs, location="query", as_kwargs=False)
    @blp.response(200, SegmentPage)
    @blp.doc(summary="List segments: filters, sort (-created_at by default), cursor paging")
    def get(self, args):
        return segment_service().list(args)

    @requires("segments:write")
    @blp.arguments(SegmentCreate(context=_context))
    @blp.response(201, SegmentOut)
    @blp.alt_response(409, response="CONFLICT", description="the code is taken")
    @blp.doc(summary="Create a segment; its formation is queued", parameters=[REFRESH])
    def post(self, data):
        return segment_service().create(data, actor=g.principal.name, refresh=refresh_arg())


@blp.route("/segments/<string:code>")
class Segment(MethodView):
    @requires("segments:read")
    @blp.response(200, SegmentOut)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.doc(summary="A segment with its formation state")
    def get(self, code: str):
        return segment_service().get(code)

    @requires("segments:write")
    @blp.arguments(SegmentPatch(context=_context))
    @blp.response(200, SegmentOut)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT",
                      description="a static segment's rule, members or store (locked), "
                                  "or a concurrent edit won the race")
    @blp.doc(summary="Edit a segment; a change of what membership depends on re-forms it",
             parameters=[REFRESH])
    def patch(self, changes, code: str):
        return segment_service().patch(code, changes, refresh=refresh_arg())

    @requires("segments:write")
    @blp.response(202, SegmentOut)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.doc(summary="Delete a segment; its members leave and lose its user group in the "
                     "background", parameters=[REFRESH])
    def delete(self, code: str):
        return segment_service().delete(code, refresh=refresh_arg())
