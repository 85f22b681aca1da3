"""Fixtures for tests against the real Elasticsearch node and Redis.

`make test` (scripts/test.sh) starts throw-away services and exports their URLs. Every
test that touches them gets its own index prefix and cleans only that prefix.
"""
from __future__ import annotations

import os
import uuid
from typing import Iterator

import pytest
from elasticsearch import Elasticsearch
from redis import Redis

from segsearch.feed.service import Feed
from segsearch.search import indices as idx
from segsearch.search.client import make_client
from segsearch.search.indices import Indices

ES_URL = os.environ.get("SEGSEARCH_TEST_ES_URL", "http://127.0.0.1:9250")
REDIS_URL = os.environ.get("SEGSEARCH_TEST_REDIS_URL", "redis://127.0.0.1:6390/0")
ADMIN_TOKEN = "test-bootstrap-admin-token"


@pytest.fixture(scope="session")
def es() -> Elasticsearch:
    client = make_client(ES_URL, api_key=os.environ.get("ES_API_KEY"),
                         username=os.environ.get("ES_USERNAME"), password=os.environ.get("ES_PASSWORD"),
                         ca_certs=os.environ.get("ES_CA_CERTS"))
    client.cluster.health(wait_for_status="yellow", timeout="30s")
    return client


@pytest.fixture(scope="session")
def redis_conn() -> Redis:
    conn = Redis.from_url(REDIS_URL)
    conn.ping()
    return conn


@pytest.fixture
def prefix(es: Elasticsearch) -> Iterator[str]:
    name = f"segtest-{uuid.uuid4().hex[:10]}-"
    yield name
    idx.drop_prefix(es, name)


@pytest.fixture
def indices(es: Elasticsearch, prefix: str) -> Indices:
    # `make test-cluster` runs the suite with the customers index sharded and replicated.
    ind = Indices(prefix, shards=int(os.environ.get("SEGSEARCH_SHARDS", "1")),
                  replicas=int(os.environ.get("SEGSEARCH_REPLICAS", "0")))
    idx.ensure(es, ind)
    return ind


@pytest.fixture
def feed(es: Elasticsearch, indices: Indices) -> Feed:
    return Feed(es, indices)


@pytest.fixture
def app(prefix: str, redis_conn: Redis):
    from segsearch import create_app
    application = create_app({"ES_URL": ES_URL, "REDIS_URL": REDIS_URL, "INDEX_PREFIX": prefix,
                              "BOOTSTRAP_TOKEN": ADMIN_TOKEN})
    application.config["TESTING"] = True
    yield application
    for key in redis_conn.scan_iter(f"*{prefix}*"):
        redis_conn.delete(key)


class ApiClient:
    """The Flask test client with a bearer token per call."""

    def __init__(self, app, token: str = ADMIN_TOKEN):
        self.app = app
        self.http = app.test_client()
        self.token = token

    def as_role(self, role: str) -> "ApiClient":
        from segsearch.extensions import Services
        svc: Services = self.app.extensions["segsearch"]
        return ApiClient(self.app, svc.tokens.create(role, f"test-{role}"))

    def _call(self, method: str, url: str, **kwargs):
        headers = kwargs.pop("headers", {})
        if self.token is not None:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        return self.http.open(url, method=method, headers=headers, **kwargs)

    def get(self, url, **kw):
        return self._call("GET", url, **kw)

    def put(self, url, **kw):
        return self._call("PUT", url, **kw)

    def post(self, url, **kw):
        return self._call("POST", url, **kw)

    def patch(self, url, **kw):
        return self._call("PATCH", url, **kw)

    def delete(self, url, **kw):
        return self._call("DELETE", url, **kw)


@pytest.fixture
def api(app) -> ApiClient:
    return ApiClient(app)
