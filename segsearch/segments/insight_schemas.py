"""Request and response schemas of explain (CONTRACT 6.3) and overlap (6.4)."""
from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from segsearch.segments.schemas import CODE_RE

MIN_CODES, MAX_CODES = 2, 20
_code = validate.Regexp(CODE_RE, error="Must match ^[a-z0-9][a-z0-9_-]{{0,63}}$.")  # {{}}: format()


class ExplainArgs(Schema):
    """POST /segments/explain: a customer and either a bare rule or a segment's code."""

    class Meta:
        unknown = RAISE

    customer_id = fields.String(required=True, validate=validate.Length(min=1, max=512))
    rule = fields.Dict(metadata={"description": "CONTRACT section 5 rule (or give `code`)"})
    code = fields.String(validate=_code, metadata={"description": "a stored segment (or give `rule`)"})

    @validates_schema
    def _rule_or_code(self, data: dict, **kwargs: Any) -> None:
        if ("rule" in data) == ("code" in data):
            raise ValidationError("Give either a rule or a code.", "_schema")


class ConditionTruth(Schema):
    index = fields.Integer()
    field = fields.String()
    op = fields.String()
    matches = fields.Boolean(metadata={"description": "the condition's own truth"})
    value = fields.Raw(allow_none=True, metadata={
        "description": "what the customer has for the field; for `orders`: the count / sum "
                       "of the orders that satisfy `where`"})


class GroupTruth(Schema):
    index = fields.Integer()
    matches = fields.Boolean(metadata={"description": "the group's contribution (after negate)"})
    conditions = fields.List(fields.Nested(ConditionTruth))


class ExplainOut(Schema):
    customer_id = fields.String()
    matches = fields.Boolean(metadata={"description": "the whole rule (with the segment's store)"})
    member = fields.Boolean(allow_none=True, metadata={
        "description": "whether the customer is a member of `code` now; null for a bare rule"})
    groups = fields.List(fields.Nested(GroupTruth))


class OverlapArgs(Schema):
    """POST /segments/overlap: 2..20 distinct segment codes."""

    class Meta:
        unknown = RAISE

    codes = fields.List(fields.String(validate=_code), required=True,
                        validate=validate.Length(min=MIN_CODES, max=MAX_CODES))

    @validates_schema
    def _distinct(self, data: dict, **kwargs: Any) -> None:
        codes = data.get("codes") or []
        repeated = {i: ["Duplicate code."] for i, code in enumerate(codes) if code in codes[:i]}
        if repeated:
            raise ValidationError({"codes": repeated})


class Pair(Schema):
    a = fields.String()
    b = fields.String()
    count = fields.Integer()


class OverlapOut(Schema):
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(),
                         metadata={"description": "members of each segment"})
    pairs = fields.List(fields.Nested(Pair), metadata={"description": "every pair, request order"})
    union = fields.Integer(metadata={"description": "customers in at least one of them"})
