"""Fixtures for tests against the real Elasticsearch node and Redis.

`make test` (scripts/test.sh) starts throw-away services and exports their URLs. Every
test that touches them gets its own index prefix and cleans only that prefix: an empty
index set from a pool (IndexSetPool), so most tests do not pay for creating one.
"""
from __future__ import annotations

import os
import uuid
from typing import Iterator

import pytest
from elasticsearch import Elasticsearch, helpers
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


def _test_indices(prefix: str) -> Indices:
    # `make test-cluster` runs the suite with the customers index sharded and replicated.
    return Indices(prefix, shards=int(os.environ.get("SEGSEARCH_SHARDS", "1")),
                   replicas=int(os.environ.get("SEGSEARCH_REPLICAS", "0")))


class IndexSetPool:
    """Index sets (one prefix each), lent to one test at a time and emptied between tests.

    Creating a prefix's templates and indices is a round of cluster-state updates (1-3 s on
    the 2-core CI machine) that most of the integration tests would pay; emptying a set is a
    search and a bulk delete. A set goes back to the pool only when it is exactly as it was
    created (same indices by uuid, with the same mappings, settings and aliases, and the same
    templates) and holds few documents; anything else a test changed is dropped, as is every
    set when the session ends. Redis keys naming the prefix are deleted either way.
    """

    MAX_DOCS = 5000  # more than this is cheaper to drop than to delete one by one

    def __init__(self, es: Elasticsearch, redis_url: str):
        self.es, self.redis = es, Redis.from_url(redis_url)
        self.idle: list[str] = []
        self.created: dict[str, object] = {}  # prefix -> its state when created

    def take(self) -> str:
        if self.idle:
            return self.idle.pop()
        name = f"segtest-{uuid.uuid4().hex[:10]}-"
        idx.ensure(self.es, _test_indices(name))
        self.created[name] = self._state(name)
        return name

    def give_back(self, name: str) -> None:
        # Services that jobs build from the environment are cached by prefix: the next
        # test may set a different environment for the same prefix.
        from workers.context import services_for
        services_for.cache_clear()
        reusable = False
        try:
            self._forget_redis(name)
            reusable = self._state(name) == self.created[name] and self._empty(name)
        except Exception:  # noqa: BLE001 - anything odd: drop the set, as before the pool
            reusable = False
        if reusable:
            self.idle.append(name)
        else:
            self.created.pop(name, None)
            idx.drop_prefix(self.es, name)

    def close(self) -> None:
        for name in self.idle:
            idx.drop_prefix(self.es, name)
        self.idle.clear()

    def _state(self, name: str) -> object:
        indices = self.es.indices.get(index=f"{name}*", expand_wildcards="all").body
        templates = self.es.options(ignore_status=404).indices.get_index_template(name=f"{name}*")
        return indices, sorted((t["name"], t["index_template"]) for t in templates.get("index_templates", []))

    def _empty(self, name: str) -> bool:
        pattern = f"{name}*"
        self.es.indices.refresh(index=pattern)
        hits = self.es.search(index=pattern, size=self.MAX_DOCS, source=False, track_total_hits=True,
                              query={"match_all": {}})["hits"]
        if hits["total"]["value"] > self.MAX_DOCS:
            return False
        if hits["hits"]:  # raises unless every delete succeeded
            actions = [{"_op_type": "delete", "_index": h["_index"], "_id": h["_id"]} for h in hits["hits"]]
            helpers.bulk(self.es, actions, refresh=True)
        return True

    def _forget_redis(self, name: str) -> None:
        for key in self.redis.scan_iter(f"*{name}*", count=1000):
            self.redis.delete(key)


@pytest.fixture(scope="session")
def index_sets(es: Elasticsearch) -> Iterator[IndexSetPool]:
    pool = IndexSetPool(es, REDIS_URL)
    yield pool
    pool.close()


@pytest.fixture
def prefix(index_sets: IndexSetPool) -> Iterator[str]:
    """A prefix whose index set exists and is empty (see IndexSetPool)."""
    name = index_sets.take()
    yield name
    index_sets.give_back(name)


@pytest.fixture
def indices(es: Elasticsearch, prefix: str) -> Indices:
    ind = _test_indices(prefix)
    idx.ensure(es, ind)
    return ind


@pytest.fixture
def feed(es: Elasticsearch, indices: Indices, redis_conn: Redis) -> Feed:
    from segsearch.feed.catalog import CatalogVersion
    feed = Feed(es, indices)
    # As in the app: its custom-field writes reach the apps' cached catalogues.
    feed.catalog.version = CatalogVersion(redis_conn, indices.prefix)
    return feed


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
