"""Bearer-token authentication: 401 without a valid token, 403 for the wrong role."""
from __future__ import annotations

from functools import wraps
from typing import Callable

from flask import g, request

from segsearch.api import path_ids
from segsearch.auth.roles import allowed
from segsearch.errors import ServiceError
from segsearch.extensions import services


class Unauthorized(ServiceError):
    status = 401


class Forbidden(ServiceError):
    status = 403


def requires(permission: str) -> Callable:
    """Decorate a view: the caller's role must grant `permission`."""
    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            header = request.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthorized("A bearer token is required.")
            svc = services()
            svc.ensure_indices()
            principal = svc.tokens.authenticate(token.strip())
            if principal is None:
                raise Unauthorized("Invalid token.")
            if not allowed(principal.role, permission):
                raise Forbidden(f"The {principal.role} role may not do this ({permission}).")
            g.principal = principal
            path_ids.check_path()
            return view(*args, **kwargs)
        wrapper.required_permission = permission  # type: ignore[attr-defined]
        return wrapper
    return decorator


def refresh_arg() -> str | None:
    """?refresh=wait_for makes the write visible to search when the response returns."""
    value = request.args.get("refresh")
    return "wait_for" if value in ("wait_for", "true", "") else None
