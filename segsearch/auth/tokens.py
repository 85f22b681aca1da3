"""API tokens: stored as SHA-256 hashes, never in clear."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from elasticsearch import Elasticsearch, NotFoundError

from segsearch.auth.roles import ROLES
from segsearch.clock import now_iso
from segsearch.search.indices import Indices


@dataclass(frozen=True)
class Principal:
    name: str
    role: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    def __init__(self, es: Elasticsearch, indices: Indices, bootstrap_token: str | None = None):
        self.es = es
        self.indices = indices
        self.bootstrap_token = bootstrap_token

    def create(self, role: str, name: str) -> str:
        """A new random token with this role; the clear token is returned once."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
        token = "seg_" + secrets.token_urlsafe(32)
        self.es.index(index=self.indices.tokens, id=_hash(token), refresh="wait_for",
                      document={"role": role, "name": name, "created_at": now_iso()})
        return token

    def authenticate(self, token: str) -> Principal | None:
        if self.bootstrap_token and hmac.compare_digest(token, self.bootstrap_token):
            return Principal("bootstrap", "admin")
        try:
            doc = self.es.get(index=self.indices.tokens, id=_hash(token))["_source"]
        except NotFoundError:
            return None
        return Principal(doc.get("name", ""), doc["role"])
