"""Stored segments over HTTP (CONTRACT section 4): list, create, read, edit, delete.

`POST /segments/preview` lives in api/rules.py. Werkzeug ranks the static rule above
`/segments/<code>`, and "preview" is a reserved code, so the two never meet: a GET of
/segments/preview reaches the segment view and is a 404 like any unknown code.
"""
from __future__ import annotations

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint

from segsearch.api.rules import current_fields
from segsearch.api.security import refresh_arg, requires
from segsearch.extensions import services
from segsearch.segments import jobs
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
    return SegmentService(store, on_change=enqueue_formation, tz=svc.config["TIMEZONE"],
                          customers_index=svc.indices.customers, before_change=record_formation)


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
