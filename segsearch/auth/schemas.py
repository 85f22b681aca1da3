"""Marshmallow schemas of the tokens API (CONTRACT 6.5)."""
from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from segsearch.auth.roles import ROLES
from segsearch.notify.paging import Cursor

_iso = {"format": "date-time"}


class TokenCreate(Schema):
    """POST /tokens."""

    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=validate.Length(min=1, max=200),
                         metadata={"description": "who or what uses the token (shown in lists "
                                                  "and as the creator of its segments)"})
    role = fields.String(required=True, validate=validate.OneOf(ROLES),
                         metadata={"description": "one of " + ", ".join(ROLES)})


class TokenOut(Schema):
    """A token as lists show it: never the token itself."""

    id = fields.String(metadata={"description": "names the token in DELETE /tokens/{id}"})
    name = fields.String()
    role = fields.String(metadata={"enum": list(ROLES)})
    created_at = fields.String(allow_none=True, metadata=_iso)


class TokenCreated(TokenOut):
    """The answer to POST /tokens: the only time the bearer token is shown."""

    token = fields.String(metadata={"description": "the bearer token; shown only now, "
                                                   "stored only as a hash"})


class TokenPage(Schema):
    items = fields.List(fields.Nested(TokenOut))
    next_cursor = fields.String(allow_none=True)
    total = fields.Integer()


class TokenListArgs(Schema):
    """?page_size= (1..1000) and ?cursor= of the token list."""

    page_size = fields.Integer(load_default=50, validate=validate.Range(min=1, max=1000))
    cursor = Cursor(load_default=None)
