"""The rule language over HTTP: field catalogue, templates, instant preview."""
from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from segsearch import clock
from segsearch.api import docs
from segsearch.api.security import requires
from segsearch.extensions import services
from segsearch.rules.fields import catalogue
from segsearch.segments.preview import checked_rule, preview

blp = Blueprint("rules", __name__, url_prefix="/api/v1", description="Rules and preview")


class PreviewSchema(Schema):
    rule = fields.Dict(required=True, metadata={"description": "CONTRACT section 5 rule"})
    store = fields.String(load_default=None, allow_none=True,
                          validate=validate.Length(min=1, max=256))
    sample_size = fields.Integer(load_default=10, strict=True, validate=validate.Range(min=0, max=100))


def current_fields():
    return catalogue(services().feed.catalog.custom_fields())


@blp.route("/fields", methods=["GET"])
@requires("segments:read")
@blp.alt_response(200, schema=docs.FieldPage, success=True)
@blp.doc(summary="The field catalogue: block, type, operators of every field")
def fields_list():
    items = [f.to_json() for f in current_fields().values()]
    return {"items": items, "next_cursor": None, "total": len(items)}


@blp.route("/segment-templates", methods=["GET"])
@requires("segments:read")
@blp.alt_response(200, schema=docs.TemplatePage, success=True)
@blp.doc(summary="Ready-made rules to start from")
def templates_list():
    from segsearch.rules.templates import TEMPLATES
    return {"items": TEMPLATES, "next_cursor": None, "total": len(TEMPLATES)}


@blp.route("/segments/preview", methods=["POST"])
@requires("segments:read")
@blp.arguments(PreviewSchema)
@blp.alt_response(200, schema=docs.PreviewOut, success=True)
@blp.doc(summary="Count, sample and per-group counts of a rule, without saving")
def segments_preview(args):
    svc = services()
    fieldmap = current_fields()
    rule = checked_rule(args["rule"], fieldmap)
    tz = svc.config["TIMEZONE"]
    return preview(svc.es, svc.indices.customers, fieldmap, rule, today=clock.today(tz),
                   timezone=tz, store=args["store"], sample_size=args["sample_size"])
