"""The editor's value suggestions behind the admin session (admin.js asks as you type).

The same service call as GET /api/v1/fields/{field}/values; a bad field or prefix answers
a 422 in the admin's JSON error shape (see views.wants_json).
"""
from __future__ import annotations

from flask import jsonify, request
from flask.typing import ResponseReturnValue
from marshmallow import ValidationError

from segsearch.admin import blp
from segsearch.api.rules import FieldValuesArgs, field_values
from segsearch.errors import Invalid, flatten

VALUES_ENDPOINTS = frozenset({"admin.field_values_json"})


@blp.route("/fields/<string:field>/values", methods=["GET"])
def field_values_json(field: str) -> ResponseReturnValue:
    """{"field", "prefix", "items": [{"value", "label", "count"}]} for the chips' lists."""
    try:
        args = FieldValuesArgs().load(request.args.to_dict())
        return jsonify(field_values(field, args["prefix"], args["size"]))
    except ValidationError as err:
        errors = {f"query.{k}": v for k, v in flatten(err.messages).items()}
        return jsonify({"code": 422, "message": "Invalid fields: " + ", ".join(sorted(errors)),
                        "errors": errors}), 422
    except Invalid as err:
        return jsonify({"code": 422, "message": err.message, "errors": err.errors}), 422
