"""Domain errors and their one JSON shape: {"code", "status", "message", "errors"}."""
from __future__ import annotations

from http import HTTPStatus
from typing import Any


class ServiceError(Exception):
    status = 500

    def __init__(self, message: str, errors: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or {}


class Invalid(ServiceError):
    """Bad input: 422 naming every bad field by its dotted path."""
    status = 422


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


def body(status: int, message: str, errors: dict[str, Any] | None = None) -> dict:
    return {"code": status, "status": HTTPStatus(status).phrase, "message": message,
            "errors": errors or {}}


def flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """Marshmallow's nested messages -> {"a.0.b": ["..."]}: one key per bad field."""
    out: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if key == "_schema":
                path = prefix or "_schema"
            for k, v in flatten(value, path).items():
                out.setdefault(k, []).extend(v)
    elif isinstance(messages, (list, tuple)) and all(isinstance(m, str) for m in messages):
        out[prefix or "_schema"] = list(messages)
    else:
        out[prefix or "_schema"] = [str(messages)]
    return out
