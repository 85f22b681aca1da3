"""Customer reads beyond the feed (lists, members of a segment, the CSV export of a
segment) and hand-assigned groups."""
from __future__ import annotations

import base64
import binascii
from typing import Any

from flask import Response, stream_with_context
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate

from segsearch import bounded_json
from segsearch.api import docs
from segsearch.api.security import refresh_arg, requires
from segsearch.api.views import customer_out
from segsearch.extensions import services
from segsearch.limits import MAX_KEYWORD_CHARS
from segsearch.segments import roster
from segsearch.segments.export import export_csv
from segsearch.segments.store import SegmentStore
from segsearch.segments.user_groups import set_manual

blp = Blueprint("customers", __name__, url_prefix="/api/v1", description="Customers")


@blp.route("/customers/<string:customer_id>/user-groups/<string:group>")
class ManualUserGroup(MethodView):
    @requires("customers:write")
    @blp.alt_response(200, schema=docs.CustomerOut, success=True)
    @blp.alt_response(404, response="NOT_FOUND", description="no such customer")
    @blp.doc(summary="Assign a user group by hand (no body)")
    def post(self, customer_id: str, group: str):
        return customer_out(set_manual(services().feed, customer_id, group, True, refresh_arg()))

    @requires("customers:write")
    @blp.alt_response(200, schema=docs.CustomerOut, success=True)
    @blp.alt_response(404, response="NOT_FOUND", description="no such customer")
    @blp.doc(summary="Remove a hand-assigned user group (a segment may still grant it)")
    def delete(self, customer_id: str, group: str):
        return customer_out(set_manual(services().feed, customer_id, group, False, refresh_arg()))


# -- the customer list -------------------------------------------------------------------


class IdCursor(fields.String):
    """The opaque paging cursor of the customer list: base64url of {"sort": "id", "after": [id]},
    the format of the segment list's cursors (segments.schemas.encode_cursor)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> list:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            decoded = bounded_json.loads(base64.urlsafe_b64decode(text.encode() + b"=" * (-len(text) % 4)))
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise ValidationError("Not a valid cursor.") from None
        if not (isinstance(decoded, dict) and decoded.get("sort") == "id"
                and _is_one_id(decoded.get("after"))):
            raise ValidationError("Not a valid cursor.")
        return decoded["after"]


def _is_one_id(after: Any) -> bool:
    return (isinstance(after, list) and len(after) == 1 and isinstance(after[0], str)
            and len(after[0]) <= MAX_KEYWORD_CHARS)


class CustomerListArgs(Schema):
    """GET /customers query: filters (all ANDed) and cursor paging, sorted by id."""

    segment = fields.String(validate=validate.Length(min=1, max=64),
                            metadata={"description": "members of this segment (404 if unknown)"})
    user_group = fields.String(validate=validate.Length(min=1, max=128))
    city = fields.String(validate=validate.Length(min=1, max=256))
    store = fields.String(validate=validate.Length(min=1, max=256))
    email = fields.String(validate=validate.Length(min=1, max=320),
                          metadata={"description": "exact, case-insensitive"})
    q = fields.String(validate=validate.Length(min=1, max=256), metadata={
        "description": "every word is a case-insensitive prefix of first_name, last_name, "
                       "email or id"})
    page_size = fields.Integer(load_default=50, validate=validate.Range(min=1, max=1000))
    cursor = IdCursor(load_default=None)


class CustomerPage(Schema):
    """One page of customers (each as GET /customers/{id} shows it, without orders)."""

    items = fields.List(fields.Dict())
    next_cursor = fields.String(allow_none=True)
    total = fields.Integer()


def list_customers(args: dict) -> dict:
    svc = services()
    return roster.list_customers(svc.es, svc.indices, args)


@blp.route("/customers")
class Customers(MethodView):
    @requires("customers:read")
    @blp.arguments(CustomerListArgs, location="query", as_kwargs=False)
    @blp.response(200, CustomerPage)
    @blp.alt_response(404, response="NOT_FOUND", description="the segment does not exist")
    @blp.doc(summary="List customers sorted by id: filters, cursor paging; ?segment=CODE "
                     "lists the members of a segment")
    def get(self, args: dict):
        return list_customers(args)


# -- the CSV export of a segment -----------------------------------------------------------
CSV_DOC = {"200": {"description": "CSV (RFC 4180, header row first), streamed",
                   "content": {"text/csv": {"schema": {"type": "string"}}}}}


@blp.route("/segments/<string:code>/export.csv", methods=["GET"])
@requires("segments:read")
@blp.alt_response(404, response="NOT_FOUND")
@blp.doc(summary="All members of a segment as a streamed CSV, any size; lists joined by ';', "
                 "cells a spreadsheet would run as a formula are prefixed with a quote",
         responses=CSV_DOC)
def export_segment(code: str) -> Response:
    return csv_download(code)


def csv_download(code: str) -> Response:
    """The members of `code` as a streamed CSV download (the API's and the admin's)."""
    svc = services()
    SegmentStore(svc.es, svc.indices).get(code)  # 404 before any byte is streamed
    chunks = export_csv(svc.es, svc.indices.customers, code, slices=int(svc.config["EXPORT_SLICES"]))
    return Response(stream_with_context(chunks), content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{code}.csv"',
                             "Cache-Control": "no-store"})  # personal data: keep out of caches
