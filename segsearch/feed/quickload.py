"""Schema loads without the schema machinery, for bulk loads of many valid items.

marshmallow's ``Schema.load`` spends most of its time around the fields (error stores,
hooks, partial handling), not in them: on the loader it was 83% of the Python time.
``QuickLoader`` calls each field's own ``deserialize`` (the same conversions and
validators as the schema) and the schema's post-load hooks, and hands anything it is
not sure of to the schema itself: an unknown key, a missing required field, any
ValidationError, or a schema with hooks it does not replay. So an item is either loaded
to exactly what ``Schema.load`` returns, or loaded (or refused, with the same errors) by
``Schema.load``. tests/unit/feed/test_quickload.py holds the two side by side.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marshmallow import Schema, ValidationError, fields
from marshmallow.decorators import POST_LOAD, PRE_LOAD, VALIDATES, VALIDATES_SCHEMA
from marshmallow.utils import missing

from segsearch.feed.schemas import load


class QuickLoader:
    """``load(schema, item)`` for one schema, faster on valid items (module docstring)."""

    def __init__(self, schema: Schema):
        self.schema = schema
        self.fields = [(name, _deserializer(field)) for name, field in schema.load_fields.items()]
        self.names = frozenset(schema.load_fields)
        hooks = schema._hooks
        post_load = hooks[POST_LOAD]
        self.post_load: list[Callable] = [getattr(schema, attr) for attr, _, _ in post_load]
        # Replayed here: fields under their own names and plain post_load hooks. Anything
        # else sends every item through the schema.
        self.quick = (
            all(f.data_key is None and f.attribute is None for f in schema.load_fields.values())
            and all(not many and not kwargs.get("pass_original") for _, many, kwargs in post_load)
            and not any(hooks[tag] for tag in (PRE_LOAD, VALIDATES, VALIDATES_SCHEMA)))

    def load(self, data: Any) -> dict:
        """The loaded item, or ``Invalid`` exactly as ``schemas.load`` raises it."""
        if self.quick and type(data) is dict and self.names.issuperset(data):
            try:
                out = {}
                for name, deserialize in self.fields:
                    value = deserialize(data.get(name, missing), name, data)
                    if value is not missing:
                        out[name] = value
                for hook in self.post_load:
                    out = hook(out, many=False, partial=None)
                return out
            except ValidationError:
                pass  # the schema reports it, with its paths and messages
        return load(self.schema, data)


def _deserializer(field: fields.Field) -> Callable[[Any, str, dict], Any]:
    """``field.deserialize`` without building a validator chain per call (most of its
    cost); a ValidationError with no message means "not sure: ask the schema"."""
    if type(field).deserialize is not fields.Field.deserialize:
        return field.deserialize
    convert = field._deserialize
    validators = tuple(field.validators)
    string = isinstance(field, fields.String)

    def deserialize(value: Any, attr: str, data: dict) -> Any:
        if value is missing:
            if field.required:
                raise ValidationError("")
            default = field.load_default
            return default() if callable(default) else default
        if value is None:
            if field.allow_none:
                return None
            raise ValidationError("")
        # String._deserialize returns a str as it is
        out = value if string and type(value) is str else convert(value, attr, data)
        for validator in validators:
            if validator(out) is False:  # marshmallow's And: a plain callable may say False
                raise ValidationError("")
        return out

    return deserialize
