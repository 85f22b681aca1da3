"""The rule language over HTTP: field catalogue, templates, instant preview."""
from __future__ import annotations

from flask import jsonify
from flask_smorest import Blueprint
from marshmallow import Schema, fields, pre_load, validate

from segsearch import clock
from segsearch.api import docs
from segsearch.api.security import requires
from segsearch.extensions import services
from segsearch.rules.fields import catalogue
from segsearch.segments import values
from segsearch.segments.deps import SegmentDeps
from segsearch.segments.preview import checked_rule, preview
from segsearch.segments.rule_input import (
    MAX_TEXT,
    TextInvalid,
    rule_from_text,
    text_of_rule,
    with_rule_from_text,
)

blp = Blueprint("rules", __name__, url_prefix="/api/v1", description="Rules and preview")


RULE_TEXT = {"description": "the rule in its text form (README: Rules as text)"}


class PreviewSchema(Schema):
    rule = fields.Dict(required=True, metadata={"description": "CONTRACT section 5 rule"})
    store = fields.String(load_default=None, allow_none=True,
                          validate=validate.Length(min=1, max=256))
    sample_size = fields.Integer(load_default=10, strict=True, validate=validate.Range(min=0, max=100))
    rule_text = fields.String(load_only=True, metadata={
        **RULE_TEXT, "description": "instead of `rule`: the rule in its text form (CONTRACT 6.8)"})

    @pre_load
    def _rule_text(self, data, **kwargs):
        return with_rule_from_text(data, current_fields)


class RuleFormatSchema(Schema):
    rule = fields.Dict(required=True, metadata={"description": "CONTRACT section 5 rule"})


class RuleTextSchema(Schema):
    text = fields.String(required=True, metadata=RULE_TEXT)


class RuleParseSchema(Schema):
    text = fields.String(required=True, validate=validate.Length(max=MAX_TEXT), metadata=RULE_TEXT)


class RuleOutSchema(Schema):
    rule = fields.Dict(metadata={"description": "the rule in canonical form (README)"})


class RuleTextErrorSchema(Schema):
    code = fields.Integer()
    status = fields.String()
    message = fields.String()
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))
    line = fields.Integer(metadata={"description": "1-based line of the first problem"})
    column = fields.Integer(metadata={"description": "1-based column of the first problem"})
    expected = fields.List(fields.String(), metadata={"description": "what could come there"})


def current_fields():
    return catalogue(services().feed.catalog.custom_fields())


class FieldValuesArgs(Schema):
    prefix = fields.String(load_default="", validate=validate.Length(max=values.MAX_PREFIX),
                           metadata={"description": "only values starting with this, in any case"})
    size = fields.Integer(load_default=values.DEFAULT_SIZE, strict=False,
                          validate=validate.Range(min=1, max=values.MAX_SIZE))


class FieldValueOut(Schema):
    value = fields.String(metadata={"description": "the value as stored (an id for products "
                                                   "and product groups)"})
    label = fields.String(allow_none=True, metadata={
        "description": "products: the name; product groups: the path of names; else null"})
    count = fields.Integer(metadata={"description": "customers holding this value"})


class FieldValuesOut(Schema):
    field = fields.String()
    prefix = fields.String()
    items = fields.List(fields.Nested(FieldValueOut))


def field_values(code: str, prefix: str, size: int) -> dict:
    """The service call shared with the admin editor (segsearch.segments.values)."""
    svc = services()
    return values.field_values(svc.es, svc.indices, current_fields(), code, prefix, size)


@blp.route("/fields", methods=["GET"])
@requires("segments:read")
@blp.alt_response(200, schema=docs.FieldPage, success=True)
@blp.doc(summary="The field catalogue: block, type, operators of every field")
def fields_list():
    items = [f.to_json() for f in current_fields().values()]
    return {"items": items, "next_cursor": None, "total": len(items)}


@blp.route("/fields/<string:field>/values", methods=["GET"])
@requires("segments:read")
@blp.arguments(FieldValuesArgs, location="query")
@blp.response(200, FieldValuesOut)
@blp.doc(summary="Values of a keyword field in the customers, most common first (for suggestions)",
         description="Cached for up to a minute. 422 for an unknown field or one that is not "
                     "a keyword field.")
def fields_values(args, field):
    return field_values(field, args["prefix"], args["size"])


@blp.route("/segment-templates", methods=["GET"])
@requires("segments:read")
@blp.alt_response(200, schema=docs.TemplatePage, success=True)
@blp.doc(summary="Ready-made rules to start from")
def templates_list():
    from segsearch.rules.templates import TEMPLATES
    return {"items": TEMPLATES, "next_cursor": None, "total": len(TEMPLATES)}


@blp.route("/segments/preview", methods=["POST"])
@requires("segments:read")
@blp.arguments(PreviewSchema())  # an instance: webargs would build a class's on every call
@blp.alt_response(200, schema=docs.PreviewOut, success=True)
@blp.doc(summary="Count, sample and per-group counts of a rule, without saving")
def segments_preview(args):
    svc = services()
    fieldmap = current_fields()
    rule = checked_rule(args["rule"], fieldmap)
    SegmentDeps(svc.es, svc.indices.segments).check(rule)  # a segment condition's codes exist
    tz = svc.config["TIMEZONE"]
    return preview(svc.es, svc.indices.customers, fieldmap, rule, today=clock.today(tz),
                   timezone=tz, store=args["store"], sample_size=args["sample_size"])


def _text_error(err: TextInvalid):
    """The 422 of a bad text, with `line`, `column` and `expected` beside the usual keys."""
    response = jsonify(err.body())
    response.status_code = err.status
    return response


@blp.route("/rules/format", methods=["POST"])
@requires("segments:read")
@blp.arguments(RuleFormatSchema)
@blp.response(200, RuleTextSchema)
@blp.doc(summary="The text form of a rule (CONTRACT 6.8)")
def rules_format(args):
    return {"text": text_of_rule(args["rule"], current_fields())}


@blp.route("/rules/parse", methods=["POST"])
@requires("segments:read")
@blp.arguments(RuleParseSchema)
@blp.response(200, RuleOutSchema)
@blp.alt_response(422, schema=RuleTextErrorSchema,
                  description="the text is not a valid rule: line, column, what was expected")
@blp.doc(summary="The rule (canonical form) written in a text (CONTRACT 6.8)")
def rules_parse(args):
    try:
        return {"rule": rule_from_text(args["text"], current_fields())}
    except TextInvalid as err:
        return _text_error(err)
