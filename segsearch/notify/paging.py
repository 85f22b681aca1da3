"""The opaque list cursor: base64url of the last hit's sort values (search_after)."""
from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from elastic_transport import ObjectApiResponse
from marshmallow import ValidationError, fields

from segsearch import bounded_json


def encode_cursor(after: list) -> str:
    """The cursor continuing after the hit whose sort values are `after`."""
    raw = json.dumps(after, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> list:
    """The sort values of a cursor; ValueError when it is not one of ours."""
    try:
        after = bounded_json.loads(base64.urlsafe_b64decode(text.encode() + b"=" * (-len(text) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ValueError("Not a valid cursor.") from None
    if not isinstance(after, list) or not after:
        raise ValueError("Not a valid cursor.")
    return after


class Cursor(fields.String):
    """A query argument holding a cursor: loads to the sort values (a 422 when invalid)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> list:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return decode_cursor(text)
        except ValueError as err:
            raise ValidationError(str(err)) from None


def page(res: Mapping[str, Any] | ObjectApiResponse[Any], page_size: int) -> dict:
    """{"items", "next_cursor", "total"} from a search that asked for page_size + 1 hits."""
    hits = res["hits"]["hits"]
    more = len(hits) > page_size
    hits = hits[:page_size]
    return {"items": [h["_source"] for h in hits],
            "next_cursor": encode_cursor(hits[-1]["sort"]) if more else None,
            "total": res["hits"]["total"]["value"]}
