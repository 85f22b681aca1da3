"""The error responses every operation can give, added to the OpenAPI document in one place.

Views document their own success and domain answers (404 of a resource, 409); the
answers that come from the layers around every view are added here: 401/403 (the
bearer token), 422 (a bad parameter or body), 413 (a body over SEGSEARCH_MAX_BODY_BYTES)
and 503 (Elasticsearch or Redis unreachable), all in the one error shape.
"""
from __future__ import annotations

from typing import Any

from apispec import BasePlugin

from segsearch.api.path_ids import EXTERNAL_IDS, LABELS
from segsearch.feed.schemas import CODE_RE as CUSTOM_FIELD_CODE
from segsearch.limits import ID_PATTERN, ID_RULE, MAX_USER_GROUP_CHARS
from segsearch.segments.schemas import CODE_RE as SEGMENT_CODE

FIELD_CODE = r"^(custom\.)?[a-z][a-z0-9_]{0,63}$"
# Status -> flask-smorest's response component of that name (the error schema).
_AROUND_EVERY_VIEW = {"401": "UNAUTHORIZED", "403": "FORBIDDEN",
                      "503": "SERVICE_UNAVAILABLE"}
_WITH_INPUT = {"422": "UNPROCESSABLE_ENTITY"}
_WITH_BODY = {"413": "REQUEST_ENTITY_TOO_LARGE"}


class ErrorResponses(BasePlugin):
    """An apispec plugin: adds the shared error responses to each /api/ operation, and
    the id alphabet to the path parameters that carry external ids."""

    def path_helper(self, path: str | None = None, operations: dict | None = None,
                    parameters: list | None = None, **kwargs: Any) -> None:
        for parameter in parameters or []:
            if not isinstance(parameter, dict) or parameter.get("in") != "path":
                continue
            name = str(parameter.get("name"))
            if name in EXTERNAL_IDS:
                parameter["schema"] = {"type": "string", "pattern": ID_PATTERN}
                parameter["description"] = ID_RULE
            elif name.endswith("_id"):
                # Ids segsearch makes (jobs, webhooks, notifications, tokens) fit the
                # alphabet too; an unknown one is a 404.
                parameter["schema"] = {"type": "string", "pattern": ID_PATTERN}
                parameter["description"] = "an id returned by the API"
            elif name == "code":
                # A custom field's code or a segment's code: each has its own pattern.
                custom = (path or "").startswith("/api/v1/custom-fields")
                pattern = CUSTOM_FIELD_CODE.pattern if custom else SEGMENT_CODE.pattern
                parameter["schema"] = {"type": "string", "pattern": pattern}
            elif name == "field":
                # A catalogue field's code: a built-in one or custom.<custom field code>.
                parameter["schema"] = {"type": "string", "pattern": FIELD_CODE}
                parameter["description"] = "a field code, as GET /api/v1/fields lists them"
            elif name in LABELS:
                parameter["schema"] = {"type": "string", "minLength": 1,
                                       "maxLength": MAX_USER_GROUP_CHARS}

    def operation_helper(self, path: str | None = None, operations: dict | None = None,
                         **kwargs: Any) -> None:
        if not path or not path.startswith("/api/") or not operations:
            return
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            extra = dict(_AROUND_EVERY_VIEW)
            if operation.get("parameters") or "{" in path or "requestBody" in operation:
                extra.update(_WITH_INPUT)
            if "requestBody" in operation:
                extra.update(_WITH_BODY)
            for code, name in extra.items():
                if code not in responses and int(code) not in responses:
                    responses[code] = name
