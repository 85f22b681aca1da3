"""Response shapes of the views that build their answer themselves, for the OpenAPI document.

They are used with `blp.alt_response(..., success=True)`, which documents a response
without dumping through the schema: the customer document (with its registered custom
fields) is shown as stored, and a schema could only drop fields from it. Every shape
here must match what the view really returns (tests/integration/test_fuzz.py validates
live responses against it).
"""
from __future__ import annotations

from marshmallow import Schema, fields

_iso = {"format": "date-time"}


def _text(**kwargs) -> fields.String:
    return fields.String(allow_none=True, **kwargs)


def _strings() -> fields.List:
    return fields.List(fields.String())


class Health(Schema):
    elasticsearch = fields.String(metadata={"description": "ok, or what is wrong"})
    redis = fields.String(metadata={"description": "ok, or what is wrong"})
    workers = fields.Integer(metadata={"description": "RQ workers alive"})


class OrderItemOut(Schema):
    product_id = fields.String()
    quantity = fields.Integer()
    price = fields.Float(allow_none=True)


class OrderOut(Schema):
    """An order as written (PUT /orders/{id}) and as listed inside its customer."""

    id = fields.String()
    customer_id = fields.String(metadata={"description": "absent inside a customer"})
    created_at = fields.String(metadata=_iso)
    status = fields.String()
    pipeline = _text()
    store = _text()
    total = fields.Float()
    items = fields.List(fields.Nested(OrderItemOut))


class CustomerOut(Schema):
    """A customer with its derived fields, segments and user groups (CONTRACT section 3)."""

    id = fields.String()
    type = _text(metadata={"enum": ["person", "company", None]})
    first_name = _text()
    last_name = _text()
    email = _text()
    phone = _text()
    sex = _text(metadata={"enum": ["male", "female", None]})
    birthday = _text(metadata={"format": "date"})
    city = _text()
    country = _text()
    store = _text()
    source = _text()
    manager = _text()
    tags = _strings()
    vip = fields.Boolean(allow_none=True)
    created_at = _text(metadata=_iso)
    email_subscribed = fields.Boolean(allow_none=True)
    sms_subscribed = fields.Boolean(allow_none=True)
    last_email_opened_at = _text(metadata=_iso)
    custom = fields.Dict(metadata={"description": "registered custom fields: {code: value}"})
    email_domain = _text()
    orders_count = fields.Integer()
    total_spent = fields.Float()
    average_order_value = fields.Float(metadata={"description": "absent without orders"})
    first_order_at = _text(metadata=_iso)
    last_order_at = _text(metadata=_iso)
    order_statuses = _strings()
    products = _strings()
    product_groups = _strings()
    orders = fields.List(fields.Nested(OrderOut))
    segments = _strings()
    manual_user_groups = _strings()
    segment_user_groups = _strings()
    user_groups = _strings()
    updated_at = _text(metadata=_iso)


class BulkItemError(Schema):
    id = fields.Raw(allow_none=True, metadata={"description": "the item's id as sent"})
    index = fields.Integer(metadata={"description": "position in the request"})
    code = fields.Integer(metadata={"description": "what a single write would have answered: "
                                                   "422 a refused value, 409 a lost race, "
                                                   "429/503 the node busy or a shard unavailable"})
    errors = fields.Dict(metadata={"description": "dotted field path -> messages"})


class BulkResult(Schema):
    """Good items land, bad ones are named."""

    indexed = fields.Integer()
    errors = fields.List(fields.Nested(BulkItemError))


class ProductOut(Schema):
    id = fields.String()
    name = fields.String()
    price = fields.Float(allow_none=True)
    groups = _strings()


class ProductGroupOut(Schema):
    id = fields.String()
    name = fields.String()
    parent_id = _text()


class CustomFieldOut(Schema):
    code = fields.String()
    label = fields.String()
    type = fields.String(metadata={"enum": ["string", "integer", "decimal", "date", "boolean"]})


class CustomFieldPage(Schema):
    items = fields.List(fields.Nested(CustomFieldOut))
    next_cursor = _text()
    total = fields.Integer()


class FieldOut(Schema):
    code = fields.String()
    label = fields.String()
    block = fields.String()
    type = fields.String()
    operators = _strings()
    values = fields.List(fields.String(), allow_none=True)
    custom = fields.Boolean()


class FieldPage(Schema):
    items = fields.List(fields.Nested(FieldOut))
    next_cursor = _text()
    total = fields.Integer()


class TemplateOut(Schema):
    code = fields.String()
    name = fields.String()
    description = fields.String()
    rule = fields.Dict()


class TemplatePage(Schema):
    items = fields.List(fields.Nested(TemplateOut))
    next_cursor = _text()
    total = fields.Integer()


class PreviewGroup(Schema):
    index = fields.Integer()
    count = fields.Integer()


class PreviewOut(Schema):
    count = fields.Integer()
    sample = fields.List(fields.Nested(CustomerOut))
    groups = fields.List(fields.Nested(PreviewGroup))
    took_ms = fields.Float()
    es_took_ms = fields.Integer()


class JobQueued(Schema):
    job_id = fields.String()


class JobOut(Schema):
    id = fields.String()
    status = fields.String(metadata={"enum": ["queued", "started", "finished", "failed"]})
    progress = fields.Float()
    result = fields.Raw(allow_none=True)


class CustomerEvent(Schema):
    segment = fields.String()
    event = fields.String(metadata={"enum": ["entered", "left"]})
    at = fields.String(metadata=_iso)
    reason = _text()


class SegmentEvent(Schema):
    customer_id = fields.String()
    event = fields.String(metadata={"enum": ["entered", "left"]})
    at = fields.String(metadata=_iso)
    reason = _text()


class DynamicsPoint(Schema):
    at = _text(metadata=_iso)
    count = fields.Integer(allow_none=True)
    entered = fields.Integer(allow_none=True)
    left = fields.Integer(allow_none=True)
    took_ms = fields.Float(allow_none=True)
    reason = _text()


def json_body(schema: type[Schema] | Schema, description: str = "") -> dict:
    """An OpenAPI requestBody for a view that reads its JSON body itself."""
    return {"required": True, "description": description,
            "content": {"application/json": {"schema": schema}}}
