"""Marshmallow schemas of the feed's input shapes (CONTRACT section 3).

They validate and normalise (datetimes to UTC ISO strings, totals to Decimal); the
service layer never sees an unvalidated value.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate, validates_schema

ID = validate.Length(min=1, max=128)
CODE_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
from segsearch.errors import Invalid, flatten  # noqa: E402

CUSTOM_TYPES = ("string", "integer", "decimal", "date", "boolean")


class UTCDateTime(fields.DateTime):
    """ISO 8601 in, UTC ISO string out. A value without an offset is taken as UTC.

    Parsed with datetime.fromisoformat (C code): on bulk loads marshmallow's regex parser
    was a tenth of the feed's CPU time.
    """

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or len(value) < 16 or value[10] not in "Tt ":
            raise self.make_error("invalid", input=value, obj_type=self.OBJ_TYPE)
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            raise self.make_error("invalid", input=value, obj_type=self.OBJ_TYPE) from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        return dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


class Money(fields.Decimal):
    """Non-negative, at most two decimals: order sums are compared in minor units."""

    def __init__(self, **kwargs):
        super().__init__(validate=validate.Range(min=0), allow_nan=False, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise ValidationError("Not a valid number.")
        number = super()._deserialize(value, attr, data, **kwargs)
        if number != number.quantize(Decimal("0.01")):
            raise ValidationError("At most two decimal places.")
        return number


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class CustomerSchema(StrictSchema):
    id = fields.String(required=True, validate=ID)
    type = fields.String(load_default="person", allow_none=True,
                         validate=validate.OneOf(["person", "company"]))
    first_name = fields.String(allow_none=True, validate=validate.Length(max=256))
    last_name = fields.String(allow_none=True, validate=validate.Length(max=256))
    email = fields.Email(allow_none=True)
    phone = fields.String(allow_none=True, validate=validate.Length(max=64))
    sex = fields.String(allow_none=True, validate=validate.OneOf(["male", "female"]))
    birthday = fields.Date(allow_none=True, format="%Y-%m-%d")
    city = fields.String(allow_none=True, validate=validate.Length(max=256))
    country = fields.String(allow_none=True, validate=validate.Length(max=256))
    store = fields.String(allow_none=True, validate=validate.Length(max=256))
    source = fields.String(allow_none=True, validate=validate.Length(max=256))
    manager = fields.String(allow_none=True, validate=validate.Length(max=256))
    tags = fields.List(fields.String(validate=validate.Length(min=1, max=128)), load_default=list,
                       allow_none=True)
    vip = fields.Boolean(allow_none=True, truthy={True}, falsy={False})
    created_at = UTCDateTime(allow_none=True)
    email_subscribed = fields.Boolean(allow_none=True, truthy={True}, falsy={False})
    sms_subscribed = fields.Boolean(allow_none=True, truthy={True}, falsy={False})
    last_email_opened_at = UTCDateTime(allow_none=True)
    custom = fields.Dict(keys=fields.String(), load_default=dict)

    @post_load
    def _birthday_iso(self, data, **kwargs):
        if data.get("birthday") is not None:
            data["birthday"] = data["birthday"].isoformat()
        return data


class OrderItems(fields.Field):
    """[{product_id, quantity, price}], checked by hand: orders carry several items and a
    nested schema per item was a third of bulk-load time. Same paths ("items.0.price")."""

    _price = Money(allow_none=True)
    _keys = frozenset({"product_id", "quantity", "price"})

    def _deserialize(self, value, attr, data, **kwargs) -> list[dict]:
        if not isinstance(value, list):
            raise ValidationError("Not a valid list.")
        errors: dict[int, dict] = {}
        items = []
        for position, item in enumerate(value):
            if not isinstance(item, dict):
                errors[position] = {"_schema": ["Invalid input type."]}
                continue
            item_errors = {key: ["Unknown field."] for key in item if key not in self._keys}
            loaded = self._item(item, item_errors)
            if item_errors:
                errors[position] = item_errors
            else:
                items.append(loaded)
        if errors:
            raise ValidationError(errors)
        return items

    def _item(self, item: dict, errors: dict) -> dict:
        pid = item.get("product_id")
        if pid is None:
            errors["product_id"] = ["Missing data for required field."]
        elif not isinstance(pid, str) or not 1 <= len(pid) <= 128:
            errors["product_id"] = ["Not a valid string of 1 to 128 characters."]
        quantity = item.get("quantity", 1)
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
            errors["quantity"] = ["Not a valid non-negative integer."]
        price = item.get("price")
        if price is not None:
            try:
                price = self._price.deserialize(price)
            except ValidationError as err:
                errors["price"] = err.messages
        return {"product_id": pid, "quantity": quantity, "price": price}


class OrderSchema(StrictSchema):
    id = fields.String(required=True, validate=ID)
    customer_id = fields.String(required=True, validate=ID)
    created_at = UTCDateTime(required=True)
    status = fields.String(required=True, validate=validate.Length(min=1, max=64))
    pipeline = fields.String(allow_none=True, validate=validate.Length(max=128))
    store = fields.String(allow_none=True, validate=validate.Length(max=256))
    total = Money(required=True)
    items = OrderItems(load_default=list)


class ProductSchema(StrictSchema):
    id = fields.String(required=True, validate=ID)
    name = fields.String(required=True, validate=validate.Length(min=1, max=512))
    price = Money(load_default=None, allow_none=True)
    groups = fields.List(fields.String(validate=ID), load_default=list)


class ProductGroupSchema(StrictSchema):
    id = fields.String(required=True, validate=ID)
    name = fields.String(required=True, validate=validate.Length(min=1, max=512))
    parent_id = fields.String(load_default=None, allow_none=True, validate=ID)

    @validates_schema
    def _not_own_parent(self, data, **kwargs):
        if data.get("parent_id") is not None and data["parent_id"] == data.get("id"):
            raise ValidationError("A group cannot be its own parent.", "parent_id")


class CustomFieldSchema(StrictSchema):
    code = fields.String(required=True, validate=validate.Regexp(CODE_RE))
    label = fields.String(required=True, validate=validate.Length(min=1, max=256))
    type = fields.String(required=True, validate=validate.OneOf(CUSTOM_TYPES))



def load(schema, data: Any, *, ident: str | None = None, key: str = "id") -> dict:
    """Validate one item; the URL's identifier wins and must agree with the body's."""
    if not isinstance(data, dict):
        raise Invalid("The body must be a JSON object.", {"_schema": ["Not an object."]})
    if ident is not None:
        if data.get(key) not in (None, ident):
            raise Invalid("Invalid body.", {key: ["Does not match the URL."]})
        data = {**data, key: ident}
    try:
        return schema.load(data)
    except ValidationError as err:
        errors = flatten(err.messages)
        raise Invalid("Invalid fields: " + ", ".join(sorted(errors)), errors) from None
