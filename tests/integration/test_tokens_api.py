"""The tokens API and CLI (CONTRACT 6.5) against the real node: create, list without
secrets, revoke with effect on the next request in every process."""
from __future__ import annotations

import hashlib
import json

import pytest

from segsearch import create_app
from tests.conftest import ADMIN_TOKEN, ES_URL, REDIS_URL, ApiClient

pytestmark = pytest.mark.integration


def create(api: ApiClient, name: str = "alice", role: str = "marketer") -> dict:
    r = api.post("/api/v1/tokens", json={"name": name, "role": role})
    assert r.status_code == 201, r.json
    return r.json


def test_create_use_list_and_revoke(api):
    made = create(api)
    assert set(made) == {"id", "name", "role", "token", "created_at"}
    assert (made["name"], made["role"]) == ("alice", "marketer") and made["created_at"]
    alice = ApiClient(api.app, made["token"])
    assert alice.get("/api/v1/segments").status_code == 200  # the marketer role works
    assert alice.get("/api/v1/tokens").status_code == 403

    listed = api.get("/api/v1/tokens").json
    assert listed["total"] == 1 and listed["next_cursor"] is None
    assert listed["items"] == [{k: made[k] for k in ("id", "name", "role", "created_at")}]
    assert api.get(f"/api/v1/tokens/{made['id']}").json == listed["items"][0]
    text = json.dumps(listed)
    assert made["token"] not in text and hashlib.sha256(made["token"].encode()).hexdigest() not in text

    assert api.delete(f"/api/v1/tokens/{made['id']}").status_code == 204
    revoked = alice.get("/api/v1/segments")
    assert revoked.status_code == 401 and revoked.json["code"] == 401
    assert api.delete(f"/api/v1/tokens/{made['id']}").status_code == 404
    assert api.get(f"/api/v1/tokens/{made['id']}").status_code == 404
    assert api.get("/api/v1/tokens").json["total"] == 0


def test_revocation_reaches_every_process(api, prefix):
    """A second app (another web process) caches nothing: the next request is refused."""
    other = ApiClient(create_app({"ES_URL": ES_URL, "REDIS_URL": REDIS_URL,
                                  "INDEX_PREFIX": prefix, "BOOTSTRAP_TOKEN": ADMIN_TOKEN}))
    made = create(api, "bot", "viewer")
    as_bot = ApiClient(other.app, made["token"])
    assert as_bot.get("/api/v1/segments").status_code == 200
    assert as_bot.get("/api/v1/segments").status_code == 200
    assert api.delete(f"/api/v1/tokens/{made['id']}").status_code == 204
    assert as_bot.get("/api/v1/segments").status_code == 401


def test_only_admins_manage_tokens(api):
    made = create(api, "x", "viewer")
    for role in ("marketer", "viewer", "ingest"):
        client = api.as_role(role)
        assert client.get("/api/v1/tokens").status_code == 403
        assert client.post("/api/v1/tokens", json={"name": "y", "role": "admin"}).status_code == 403
        assert client.delete(f"/api/v1/tokens/{made['id']}").status_code == 403
    anonymous = ApiClient(api.app, None)
    assert anonymous.get("/api/v1/tokens").status_code == 401
    assert api.get("/api/v1/tokens", headers={"Authorization": "Bearer seg_0123.nope"}).status_code == 401
    assert api.get(f"/api/v1/tokens/{made['id']}").status_code == 200  # still there


BAD_BODIES = [
    ({"name": "a", "role": "root"}, {"role"}), ({"role": "viewer"}, {"name"}),
    ({"name": "", "role": "viewer"}, {"name"}), ({}, {"name", "role"}),
    ({"name": "a", "role": "viewer", "token": "mine"}, {"token"}),
    ({"name": 5, "role": ["admin"]}, {"name", "role"}),
]


def test_bad_bodies_are_422_naming_the_fields(api):
    for body, fields in BAD_BODIES:
        r = api.post("/api/v1/tokens", json=body)
        assert r.status_code == 422 and set(r.json["errors"]) == fields, (body, r.json)
    assert api.get("/api/v1/tokens").json["total"] == 0


def test_unknown_or_forged_ids_are_404(api):
    for token_id in ["0123456789abcdef", "nope", "A" * 600, "%00", "..", "*", "a" * 65]:
        assert api.delete(f"/api/v1/tokens/{token_id}").status_code == 404, token_id
        assert api.get(f"/api/v1/tokens/{token_id}").status_code == 404, token_id


def test_paging_newest_first(api):
    made = [create(api, f"t{i}", "viewer")["id"] for i in range(3)]
    first = api.get("/api/v1/tokens?page_size=2").json
    rest = api.get(f"/api/v1/tokens?page_size=2&cursor={first['next_cursor']}").json
    ids = [t["id"] for t in first["items"] + rest["items"]]
    assert first["total"] == 3 and rest["next_cursor"] is None and sorted(ids) == sorted(made)
    stamps = [t["created_at"] for t in first["items"] + rest["items"]]
    assert stamps == sorted(stamps, reverse=True)


def test_a_token_made_before_ids_still_works_and_can_be_revoked(api, es):
    """Older tokens are stored under their hash with no id: they authenticate, are listed
    with the hash as their id, and revoke like the others."""
    svc = api.app.extensions["segsearch"]
    token = "seg_an-older-token-from-before-ids"
    digest = hashlib.sha256(token.encode()).hexdigest()
    es.index(index=svc.indices.tokens, id=digest, refresh="wait_for",
             document={"role": "viewer", "name": "old", "created_at": "2026-01-01T00:00:00Z"})
    old = ApiClient(api.app, token)
    assert old.get("/api/v1/segments").status_code == 200
    assert [t["id"] for t in api.get("/api/v1/tokens").json["items"]] == [digest]
    assert api.delete(f"/api/v1/tokens/{digest}").status_code == 204
    assert old.get("/api/v1/segments").status_code == 401


def test_a_token_naming_another_id_is_refused(api):
    """The id in a token only finds the document; the hash must match the whole token."""
    made = create(api, "victim", "admin")
    forged = f"seg_{made['id']}.{'x' * 43}"
    assert ApiClient(api.app, forged).get("/api/v1/segments").status_code == 401


def test_openapi_documents_the_tokens_api(api):
    paths = api.get("/api/v1/openapi.json").json["paths"]
    ops = {**paths["/api/v1/tokens"], **paths["/api/v1/tokens/{token_id}"]}
    assert set(ops) >= {"get", "post", "delete"}
    created = paths["/api/v1/tokens"]["post"]["responses"]["201"]["content"]["application/json"]
    assert created["schema"] and paths["/api/v1/tokens"]["post"]["requestBody"]
    assert paths["/api/v1/tokens"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]


def test_cli_creates_lists_and_revokes(api):
    runner = api.app.test_cli_runner()
    made = runner.invoke(args=["tokens", "create", "--role", "ingest", "--name", "feed-bot"])
    assert made.exit_code == 0, made.output
    token = made.output.strip()
    feeder = ApiClient(api.app, token)
    assert feeder.put("/api/v1/customers/c1", json={"city": "Kazan"}).status_code in (200, 201)
    listed = runner.invoke(args=["tokens", "list"])
    assert listed.exit_code == 0 and token not in listed.output
    (line,) = [row for row in listed.output.splitlines() if row.endswith("\tfeed-bot")]
    token_id, role = line.split("\t")[:2]
    assert role == "ingest" and token.startswith(f"seg_{token_id}.")
    revoked = runner.invoke(args=["tokens", "revoke", token_id])
    assert revoked.exit_code == 0 and token_id in revoked.output
    assert feeder.put("/api/v1/customers/c1", json={"city": "Kazan"}).status_code == 401
    again = runner.invoke(args=["tokens", "revoke", token_id])
    assert again.exit_code != 0 and "not found" in again.output


def test_revoking_a_token_ends_its_admin_session(api):
    """The admin's session cookie is a cache of the login: it is checked on every request."""
    from tests.integration.test_admin import Admin
    made = create(api, "carol", "marketer")
    browser = Admin(api.app, made["token"])
    assert browser.get("/admin/").status_code == 200
    assert api.delete(f"/api/v1/tokens/{made['id']}").status_code == 204
    after = browser.get("/admin/")
    assert after.status_code == 302 and "/admin/login" in after.headers["Location"]
