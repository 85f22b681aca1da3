"""The admin's text mode (README "Rules as text"): format and parse for rule_text.js.

The same functions as POST /api/v1/rules/format and /rules/parse, behind the admin's
session and CSRF token instead of a bearer token. Unlike the API they answer a text or rule
with errors with a 200 and `"valid": false`: the editor checks the text as it is typed, and
half-typed text is the normal case there, not a failed request (nor a console error).
"""
from __future__ import annotations

from flask import jsonify, request
from flask.typing import ResponseReturnValue

from segsearch.admin import blp
from segsearch.api.rules import current_fields
from segsearch.errors import Invalid
from segsearch.segments.rule_input import TextInvalid, rule_from_text, text_of_rule

# Answer errors in JSON, not with an HTML page (see views.wants_json).
TEXT_ENDPOINTS = frozenset({"admin.rule_text_format", "admin.rule_text_parse"})


def _error(err: Invalid) -> ResponseReturnValue:
    body = err.body() if isinstance(err, TextInvalid) else {
        "code": err.status, "message": err.message, "errors": err.errors}
    return jsonify({**body, "valid": False})


def _payload(key: str) -> object:
    payload = request.get_json(silent=True)
    return payload.get(key) if isinstance(payload, dict) else None


@blp.route("/rules/format", methods=["POST"])
def rule_text_format() -> ResponseReturnValue:
    """{"rule"} -> {"text"}: the block editor's rule as text."""
    try:
        return jsonify({"valid": True, "text": text_of_rule(_payload("rule"), current_fields())})
    except Invalid as err:
        return _error(err)


@blp.route("/rules/parse", methods=["POST"])
def rule_text_parse() -> ResponseReturnValue:
    """{"text"} -> {"rule"}, or 422 with line, column and what was expected."""
    text = _payload("text")
    if not isinstance(text, str):
        return jsonify({"code": 422, "message": "Give the text as a string.",
                        "errors": {"text": ["Not a valid string."]}}), 422
    try:
        return jsonify({"valid": True, "rule": rule_from_text(text, current_fields())})
    except Invalid as err:
        return _error(err)
