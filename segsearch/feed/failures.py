"""Why a feed write did not land, with the HTTP status each reason stands for.

Every item of a bulk write has a fate: it landed, or it failed for a reason a client can
act on: 409 a race lost too often (retry), 422 a value the index refuses (fix the data),
429/503 the node is busy or a shard unavailable (retry later). Never a success for a
write that did not land, never a 5xx for a bad item.
"""
from __future__ import annotations

import re
from typing import Any, Self

from segsearch.errors import ServiceError

# "failed to parse field [custom.big] of type [long] in document with id 'c1'..."
_FIELD = re.compile(r"field \[([^\]]+)\]")


class Failure(str):
    """A reason (the string itself, as before) with its HTTP status and, when known, field.

    A str subclass so callers that compare or print reasons keep working.
    """

    status: int
    field: str | None

    def __new__(cls, message: str, status: int, field: str | None = None) -> Self:
        obj = super().__new__(cls, message)
        obj.status = status
        obj.field = field
        return obj

    def errors(self) -> dict[str, list[str]]:
        """Field-level errors as the API shows them."""
        return {self.field or "_schema": [str(self)]}


MISSING = Failure("missing", 404)
UNKNOWN_CUSTOMER = Failure("Unknown customer.", 422, "customer_id")


def conflict() -> Failure:
    return Failure("Too many concurrent writes to this customer; retry.", 409)


def retryable(status: int) -> bool:
    """Statuses worth another attempt inside the same request."""
    return status in (409, 429)


def from_bulk_item(info: dict[str, Any]) -> Failure:
    """The failure of one bulk response item (its status and error)."""
    status = int(info.get("status") or 500)
    error = info.get("error") or {}
    if not isinstance(error, dict):
        error = {"reason": str(error)}
    if status == 409:
        return conflict()
    if status == 429:
        return Failure("Elasticsearch is overloaded; retry later.", 429)
    if 400 <= status < 500:
        return refused(error)
    return Failure(f"Elasticsearch could not write this item ({error.get('type', status)}); retry.",
                   503)


def refused(error: dict[str, Any]) -> Failure:
    """A value the index refuses (mapper_parsing_exception, illegal_argument_exception...)."""
    reason = str(error.get("reason") or "")
    caused = error.get("caused_by") or {}
    detail = caused.get("reason") if isinstance(caused, dict) else None
    match = _FIELD.search(reason)
    message = f"Refused by the index: {reason}" + (f" ({detail})" if detail else "")
    return Failure(message, 422, match.group(1) if match else None)


class WriteFailed(ServiceError):
    """A single write that did not land: the API answers with the failure's own status."""

    def __init__(self, failure: Failure):
        super().__init__(str(failure), failure.errors())
        self.status = failure.status
