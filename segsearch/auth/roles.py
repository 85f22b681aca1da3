"""What each role may do (CONTRACT section 2). One table; endpoints name a permission."""
from __future__ import annotations

ROLES = ("admin", "marketer", "viewer", "ingest")

PERMISSIONS: dict[str, frozenset[str]] = {
    "feed:write": frozenset({"admin", "ingest"}),
    "customers:read": frozenset({"admin", "marketer", "viewer"}),
    "customers:write": frozenset({"admin", "marketer"}),
    "segments:read": frozenset({"admin", "marketer", "viewer"}),
    "segments:write": frozenset({"admin", "marketer"}),
    "admin": frozenset({"admin"}),
}


def allowed(role: str, permission: str) -> bool:
    return role in PERMISSIONS[permission]
