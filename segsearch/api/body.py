"""The one way a request body is read: bounded in size and in nesting.

Flask's JSON provider is replaced so every `request.get_json()` goes through
`load_json`, and a `before_request` hook parses each JSON body under /api/ once, before
any view or webargs schema sees it: a body nested deeper than any schema allows is a 422
there, before a recursive parser or validator can exhaust the stack, and one larger than
SEGSEARCH_MAX_BODY_BYTES is a 413 before it is read.
"""
from __future__ import annotations

from typing import Any

from flask import Flask, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge

from segsearch import bounded_json
from segsearch.errors import Invalid
from segsearch.limits import MAX_JSON_DEPTH

TOO_DEEP = f"The body is nested deeper than the schema allows (at most {MAX_JSON_DEPTH} levels)."


def load_json(data: str | bytes) -> Any:
    """Parse a JSON body; Invalid (422) when nested deeper than any schema allows."""
    try:
        return bounded_json.loads(data)
    except bounded_json.TooDeep:
        raise Invalid(TOO_DEEP, {"_schema": [f"Nested deeper than {MAX_JSON_DEPTH} levels."]}) \
            from None


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's default provider with a depth-bounded `loads`."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return load_json(s)


def _check_body() -> None:
    """Size first (without reading), then one bounded parse of a JSON body under /api/."""
    if not request.path.startswith("/api/"):
        return
    limit = request.max_content_length
    if limit is not None and (request.content_length or 0) > limit:
        raise RequestEntityTooLarge(
            f"The body is larger than {limit} bytes (SEGSEARCH_MAX_BODY_BYTES).")
    if request.is_json and request.get_data(cache=True):
        try:
            request.get_json()  # cached for the view; Invalid (422) when too deep
        except BadRequest:
            raise Invalid("The body is not valid JSON.", {"_schema": ["Malformed JSON."]}) \
                from None


def init_app(app: Flask, max_body_bytes: int) -> None:
    app.json = BoundedJSONProvider(app)
    # Werkzeug enforces it on every read of the body, with or without Content-Length.
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes
    app.before_request(_check_body)
