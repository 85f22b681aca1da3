"""Marshmallow schemas of the feed's input shapes (CONTRACT section 3).

They validate and normalise (datetimes to UTC ISO strings, totals to Decimal); the
service layer never sees an unvalidated value.
"""
from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate, validates_schema

from segsearch import limits
from segsearch.errors import Invalid, flatten

# External ids: the id alphabet of segsearch.limits (1..128 characters).
ID = limits.id_field_validator()
CODE_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

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
        # 0001-01-01T00:00:00+01:00 is still year 0 in UTC: a 422, not an OverflowError.
        return limits.to_utc(dt).isoformat().replace("+00:00", "Z")


class Money(fields.Decimal):
    """Non-negative, at most two decimals, at most limits.MAX_MONEY: order sums are
    compared in minor units (cents), which must stay exact in a double and fit a long."""

    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {"minimum": 0, "maximum": limits.MAX_MONEY,
                                       "multipleOf": 0.01})
        super().__init__(allow_nan=False, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise ValidationError("Not a valid number.")
        number = super()._deserialize(value, attr, data, **kwargs)
        # Checked before quantize(), which raises on exponents like 1E+400.
        if not 0 <= number <= limits.MAX_MONEY:
            raise ValidationError(f"Must be between 0 and {limits.MAX_MONEY}.")
        if number != number.quantize(Decimal("0.01")):
            raise ValidationError("At most two decimal places.")
        return number


class CustomValues(fields.Dict):
    """{code: value}: whatever the registered type, a value the index can hold.

    The type check against the registered field is the feed service's; this one refuses
    what no custom type can take (a long overflow, NaN, an over-long keyword, an object),
    naming `custom.<code>`.
    """

    def __init__(self, **kwargs):
        super().__init__(keys=fields.String(), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        loaded = super()._deserialize(value, attr, data, **kwargs)
        errors = {code: [problem] for code, v in loaded.items()
                  if (problem := limits.custom_value_problem(v)) is not None}
        if errors:
            raise ValidationError(errors)
        return loaded


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class CustomerSchema(StrictSchema):
    id = fields.String(required=True, validate=ID)
    type = fields.String(load_default="person", allow_none=True,
                         validate=validate.OneOf(["person", "company"]))
    first_name = fields.String(allow_none=True, validate=validate.Length(max=256))
    last_name = fields.String(allow_none=True, validate=validate.Length(max=256))
    email = fields.Email(allow_none=True, validate=validate.Length(max=limits.MAX_EMAIL_CHARS))
    phone = fields.String(allow_none=True, validate=validate.Length(max=64))
    sex = fields.String(allow_none=True, validate=validate.OneOf(["male", "female"]))
    birthday = fields.Date(allow_none=True)  # ISO YYYY-MM-DD ("format: date" in OpenAPI)
    city = fields.String(allow_none=True, validate=validate.Length(max=256))
    country = fields.String(allow_none=True, validate=validate.Length(max=256))
    store = fields.String(allow_none=True, validate=validate.Length(max=256))
    source = fields.String(allow_none=True, validate=validate.Length(max=256))
    manager = fields.String(allow_none=True, validate=validate.Length(max=256))
    tags = fields.List(fields.String(validate=validate.Length(min=1, max=128)), load_default=list,
                       allow_none=True, validate=validate.Length(max=limits.MAX_TAGS))
    vip = fields.Boolean(allow_none=True, truthy={True}, falsy={False})
    created_at = UTCDateTime(allow_none=True)
    email_subscribed = fields.Boolean(allow_none=True, truthy={True}, falsy={False})
    sms_subscribed = fields.Boolean(allow_none=True, truthy={True}, falsy={False})
    last_email_opened_at = UTCDateTime(allow_none=True)
    custom = CustomValues(load_default=dict)

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
    # What apispec cannot infer from a hand-written field: the OpenAPI shape.
    DOC = {"type": "array", "maxItems": limits.MAX_ORDER_ITEMS, "items": {
        "type": "object", "additionalProperties": False, "required": ["product_id"],
        "properties": {
            "product_id": {"type": "string", "pattern": limits.ID_PATTERN},
            "quantity": {"type": "integer", "minimum": 0, "maximum": limits.INT32_MAX,
                         "default": 1},
            "price": {"type": "number", "nullable": True, "minimum": 0,
                      "maximum": limits.MAX_MONEY, "multipleOf": 0.01}}}}

    def __init__(self, **kwargs):
        super().__init__(metadata=self.DOC, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs) -> list[dict]:
        if not isinstance(value, list):
            raise ValidationError("Not a valid list.")
        if len(value) > limits.MAX_ORDER_ITEMS:
            raise ValidationError(f"At most {limits.MAX_ORDER_ITEMS} items.")
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
        elif not limits.is_id(pid):
            errors["product_id"] = [f"Not a valid id: {limits.ID_RULE}."]
        quantity = item.get("quantity", 1)
        if (isinstance(quantity, bool) or not isinstance(quantity, int)
                or not 0 <= quantity <= limits.INT32_MAX):
            errors["quantity"] = [f"Not an integer from 0 to {limits.INT32_MAX}."]
        price = item.get("price")
        if price is not None:
            try:  # what deserialize() does with a non-null value, minus a validator chain
                price = self._price._deserialize(price, "price", item)
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
    groups = fields.List(fields.String(validate=ID), load_default=list,
                         validate=validate.Length(max=limits.MAX_PRODUCT_GROUPS))


class ProductGroupSchema(StrictSchema):
    id = fields.String(required=True, validate=ID)
    name = fields.String(required=True, validate=validate.Length(min=1, max=512))
    parent_id = fields.String(load_default=None, allow_none=True, validate=ID)

    @validates_schema
    def _not_own_parent(self, data, **kwargs):
        if data.get("parent_id") is not None and data["parent_id"] == data.get("id"):
            raise ValidationError("A group cannot be its own parent.", "parent_id")


class CustomFieldSchema(StrictSchema):
    code = fields.String(required=True, validate=limits.FullRegexp(CODE_RE))
    label = fields.String(required=True, validate=validate.Length(min=1, max=256))
    type = fields.String(required=True, validate=validate.OneOf(CUSTOM_TYPES))



# -- the documented bodies (OpenAPI): the URL carries the id, so the body may omit it ----
class CustomerBody(CustomerSchema):
    id = fields.String(validate=ID, metadata={"description": "the URL's id if given"})


class OrderBody(OrderSchema):
    id = fields.String(validate=ID, metadata={"description": "the URL's id if given"})


class ProductBody(ProductSchema):
    id = fields.String(validate=ID, metadata={"description": "the URL's id if given"})


class ProductGroupBody(ProductGroupSchema):
    id = fields.String(validate=ID, metadata={"description": "the URL's id if given"})


class CustomFieldBody(CustomFieldSchema):
    code = fields.String(validate=limits.FullRegexp(CODE_RE),
                         metadata={"description": "the URL's code if given"})


def _bulk(key: str, item: type[Schema]) -> type[Schema]:
    name = f"{key.title()}Bulk"
    field = fields.List(fields.Nested(item), required=True,
                        validate=validate.Length(max=5000),  # BULK_MAX_ITEMS' default
                        metadata={"description": "bad items are named, good ones land"})
    return type(name, (StrictSchema,), {key: field, "__doc__": f"POST /{key}/_bulk"})


CustomersBulk = _bulk("customers", CustomerSchema)
OrdersBulk = _bulk("orders", OrderSchema)
ProductsBulk = _bulk("products", ProductSchema)


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
