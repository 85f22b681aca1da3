"""API tokens: stored as SHA-256 hashes, never in clear; listed and revoked by a public id.

A token reads `seg_<id>.<secret>`: the id in it names the stored document, so checking a
token is one real-time GET by id and a constant-time comparison of hashes. Every request
checks the index (there is no per-process cache), so a revoked token fails on its very
next request in every web process. Tokens made before ids existed (`seg_<secret>`, no
dot) are stored under their hash and keep working; their id is that hash.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

from elasticsearch import Elasticsearch, NotFoundError

from segsearch.auth.roles import ROLES
from segsearch.clock import now_iso
from segsearch.errors import NotFound
from segsearch.notify.paging import page
from segsearch.search.indices import Indices

PREFIX = "seg_"
# Ids: 16 hex digits; an older token's id is its 64-digit hash.
_ID = re.compile(r"[0-9a-f]{1,64}")
PUBLIC_FIELDS = ("id", "name", "role", "created_at")


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    # The stored token's id, so a session opened with it can check it is not revoked;
    # None for the bootstrap token (configured, not stored: it cannot be revoked).
    token_id: str | None = None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _token_id(token: str) -> str | None:
    """The id a `seg_<id>.<secret>` token names; None for an older or foreign token."""
    if not token.startswith(PREFIX) or "." not in token:
        return None
    token_id = token[len(PREFIX):].partition(".")[0]
    return token_id if _ID.fullmatch(token_id) else None


class TokenStore:
    def __init__(self, es: Elasticsearch, indices: Indices, bootstrap_token: str | None = None):
        self.es = es
        self.indices = indices
        self.bootstrap_token = bootstrap_token

    def issue(self, role: str, name: str) -> dict[str, Any]:
        """A new token: {"id", "name", "role", "created_at", "token"}; the only time the
        clear token exists. ValueError for an unknown role."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
        token_id = secrets.token_hex(8)
        token = f"{PREFIX}{token_id}.{secrets.token_urlsafe(32)}"
        doc = {"id": token_id, "name": name, "role": role, "created_at": now_iso(),
               "token_hash": _hash(token)}
        # create, not index: an id collision (2^-64) must fail, not replace a token.
        self.es.create(index=self.indices.tokens, id=token_id, document=doc, refresh="wait_for")
        return {**_public(doc, token_id), "token": token}

    def create(self, role: str, name: str) -> str:
        """A new token with this role; the clear token is returned once."""
        return str(self.issue(role, name)["token"])

    def authenticate(self, token: str) -> Principal | None:
        if self.bootstrap_token and hmac.compare_digest(token, self.bootstrap_token):
            return Principal("bootstrap", "admin")
        token_id = _token_id(token)
        doc_id = token_id if token_id is not None else _hash(token)
        doc = self._source(doc_id)
        if doc is None:
            return None
        # A current token must match the stored hash; an older one is found by its hash.
        stored = doc.get("token_hash") if token_id is not None else _hash(token)
        if not isinstance(stored, str) or not hmac.compare_digest(stored, _hash(token)):
            return None
        return Principal(doc.get("name", ""), doc["role"], doc_id)

    def list(self, page_size: int = 50, after: list | None = None) -> dict:
        """One page, newest first: {"items", "next_cursor", "total"}; no token, no hash."""
        body: dict[str, Any] = {
            "query": {"match_all": {}}, "size": page_size + 1, "track_total_hits": True,
            "sort": [{"created_at": "desc"}, {"id": {"order": "asc", "missing": "_last"}}],
        }
        if after:
            body["search_after"] = after
        res = self.es.search(index=self.indices.tokens, **body)
        result = page(res, page_size)
        result["items"] = [_public(h["_source"], h["_id"]) for h in res["hits"]["hits"][:page_size]]
        return result

    def exists(self, token_id: str) -> bool:
        """Whether the token is still valid (not revoked): a real-time GET."""
        return self._source(token_id) is not None

    def get(self, token_id: str) -> dict[str, Any]:
        """The token's public record, or NotFound (404)."""
        doc = self._source(token_id)
        if doc is None:
            raise NotFound(f"Token {token_id!r} not found.")
        return _public(doc, token_id)

    def revoke(self, token_id: str) -> None:
        """Delete the token: its next request is a 401. NotFound (404) if there is none."""
        if not _ID.fullmatch(token_id):
            raise NotFound(f"Token {token_id!r} not found.")
        try:
            self.es.delete(index=self.indices.tokens, id=token_id, refresh="wait_for")
        except NotFoundError:
            raise NotFound(f"Token {token_id!r} not found.") from None

    def _source(self, doc_id: str) -> dict | None:
        if not _ID.fullmatch(doc_id):  # never an Elasticsearch error for a forged id
            return None
        try:
            return self.es.get(index=self.indices.tokens, id=doc_id)["_source"]
        except NotFoundError:
            return None


def _public(doc: dict, doc_id: str) -> dict[str, Any]:
    """What the API shows of a token: never the token, never its hash."""
    return {"id": doc.get("id") or doc_id, "name": doc.get("name", ""), "role": doc["role"],
            "created_at": doc.get("created_at")}
