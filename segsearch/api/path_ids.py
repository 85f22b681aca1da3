"""External ids in URL paths follow the id alphabet (segsearch.limits.ID_PATTERN).

Checked once for every route, before the view: a path id with NUL, a bidi control, a
leading "=" or anything else outside the alphabet is a 422 naming the path parameter,
whether the view would read or write it. On a route behind a role (security.requires) the
check runs after authentication, so a caller without a valid token learns nothing about
the id from a 422: it gets the 401 or 403 first.
"""
from __future__ import annotations

from flask import Flask, current_app, request

from segsearch.errors import Invalid
from segsearch.limits import ID_RULE, MAX_USER_GROUP_CHARS, is_id

# Path parameters holding ids the feed defines (customers, orders, products, groups).
EXTERNAL_IDS = frozenset({"customer_id", "order_id", "product_id", "group_id"})
# Other free-form path values stored as keywords (a hand-assigned user group).
LABELS = frozenset({"group"})


def _problem(name: str, value: object) -> str | None:
    if name in EXTERNAL_IDS and not is_id(value):
        return f"Not a valid id: {ID_RULE}."
    if name in LABELS and (not isinstance(value, str) or not value.isprintable()
                           or not 1 <= len(value) <= MAX_USER_GROUP_CHARS):
        return f"1 to {MAX_USER_GROUP_CHARS} printable characters."
    return None


def check_path() -> None:
    """422 naming every path parameter outside its alphabet."""
    errors = {f"path.{name}": [problem] for name, value in (request.view_args or {}).items()
              if (problem := _problem(name, value)) is not None}
    if errors:
        raise Invalid("Invalid fields: " + ", ".join(sorted(errors)), errors)


def _guarded() -> bool:
    """Whether the request's view (or MethodView method) is behind security.requires."""
    view = current_app.view_functions.get(request.endpoint or "")
    cls = getattr(view, "view_class", None)
    if cls is not None:
        view = getattr(cls, request.method.lower(), None)
    return getattr(view, "required_permission", None) is not None


def _check_unguarded_path() -> None:
    if request.path.startswith("/api/") and not _guarded():
        check_path()


def init_app(app: Flask) -> None:
    app.before_request(_check_unguarded_path)
