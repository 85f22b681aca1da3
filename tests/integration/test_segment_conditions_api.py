"""Conditions on other segments (CONTRACT 6.2) and overlap (6.4) through the API.

Membership is written straight onto the customers' stored `segments` (no formation runs
here): these tests are about what reads it, not about the engine that writes it.
"""
from __future__ import annotations

import random
from itertools import combinations

import pytest

pytestmark = pytest.mark.integration

URL = "/api/v1/segments"
CITY = {"match": "all", "groups": [
    {"block": "customer", "conditions": [{"field": "city", "op": "in", "include": ["Moscow"]}]}]}


def on(*codes: str, exclude: tuple[str, ...] = ()) -> dict:
    """A rule with one segments condition."""
    return {"match": "all", "groups": [{"block": "segments", "conditions": [
        {"field": "segments", "op": "in", "include": list(codes), "exclude": list(exclude)}]}]}


@pytest.fixture(autouse=True)
def no_formation(monkeypatch) -> None:
    monkeypatch.setattr("segsearch.api.segments.enqueue_formation", lambda code, reason: None)


def create(api, code: str, rule: dict = CITY):
    return api.post(URL, json={"code": code, "name": code, "rule": rule})


def store_membership(feed, members: dict[str, list[str]]) -> None:
    """customer id -> the codes it is a member of, written as membership would be."""
    feed.import_dataset(customers=[{"id": cid, "city": "Moscow" if i % 2 else "Kazan"}
                                   for i, cid in enumerate(members)])
    failed = feed.patch_customers({cid: (lambda doc, codes=codes: {"segments": codes})
                                   for cid, codes in members.items()}, ["segments"],
                                  refresh="wait_for")
    assert not failed


# -- 6.2: validation ---------------------------------------------------------------------

def test_fields_offer_the_segments_block(api):
    items = {f["code"]: f for f in api.get("/api/v1/fields").json["items"]}
    assert items["segments"]["block"] == "segments" and items["segments"]["operators"] == ["in"]


def test_unknown_code_is_422_naming_the_condition(api):
    assert create(api, "a").status_code == 201
    r = create(api, "b", {"match": "all", "groups": [
        {"block": "customer", "conditions": [{"field": "city", "op": "in", "include": ["x"]}]},
        {"block": "segments", "conditions": [
            {"field": "segments", "op": "in", "include": ["a"]},
            {"field": "segments", "op": "in", "exclude": ["nope"]}]}]})
    assert r.status_code == 422, r.json
    assert r.json["errors"] == {"rule.groups.1.conditions.1.exclude": ["unknown segment 'nope'"]}
    # Created a moment ago without ?refresh: still counts as existing (real-time reads).
    assert create(api, "c", on("a")).status_code == 201


def test_cycles_are_422_at_create_and_edit(api):
    r = create(api, "self", on("self"))
    assert r.status_code == 422 and "rule.groups.0.conditions.0.include" in r.json["errors"]
    assert create(api, "a").status_code == 201
    assert create(api, "b", on("a")).status_code == 201
    assert create(api, "c", on("b")).status_code == 201
    # Editing a to name c closes a -> c -> b -> a.
    r = api.patch(f"{URL}/a", json={"rule": on("x-unknown", exclude=("c",))})
    assert r.status_code == 422, r.json
    assert r.json["errors"] == {
        "rule.groups.0.conditions.0.include": ["unknown segment 'x-unknown'"],
        "rule.groups.0.conditions.0.exclude": ["segment 'c' would make a cycle: a -> c -> b -> a"]}
    assert api.get(f"{URL}/a").json["rule"]["groups"][0]["block"] == "customer"  # unchanged
    # Not a cycle: c may name a directly as well (a diamond), and a may change freely.
    assert api.patch(f"{URL}/c", json={"rule": on("b", "a")}).status_code == 200
    assert api.patch(f"{URL}/a", json={"rule": CITY | {"match": "any"}}).status_code == 200


def test_preview_uses_stored_membership_and_refuses_unknown_codes(api, feed):
    for code in ("vip", "churned"):
        assert create(api, code).status_code == 201
    store_membership(feed, {"c1": ["vip"], "c2": ["vip", "churned"], "c3": ["churned"], "c4": []})
    r = api.post(f"{URL}/preview", json={"rule": on("vip", exclude=("churned",)),
                                         "sample_size": 5})
    assert r.status_code == 200, r.json
    assert r.json["count"] == 1 and [c["id"] for c in r.json["sample"]] == ["c1"]
    r = api.post(f"{URL}/preview", json={"rule": on("vip", "ghost")})
    assert r.status_code == 422 and "rule.groups.0.conditions.0.include" in r.json["errors"]


# -- 6.4: overlap ------------------------------------------------------------------------

def test_overlap_matches_set_arithmetic(api, feed):
    codes = ["s1", "s2", "s3", "s4", "empty"]
    for code in codes:
        assert create(api, code).status_code == 201
    rng = random.Random(7)
    members = {f"m{i}": sorted(rng.sample(codes[:4], rng.randint(0, 4))) + ["other"]
               for i in range(120)}
    store_membership(feed, members)
    sets = {code: {cid for cid, segs in members.items() if code in segs} for code in codes}
    asked = ["s3", "s1", "empty", "s4", "s2"]
    r = api.post(f"{URL}/overlap", json={"codes": asked})
    assert r.status_code == 200, r.json
    assert r.json["counts"] == {code: len(sets[code]) for code in asked}
    assert r.json["pairs"] == [{"a": a, "b": b, "count": len(sets[a] & sets[b])}
                               for a, b in combinations(asked, 2)]
    assert r.json["union"] == len(set().union(*(sets[c] for c in asked)))


def test_overlap_validation(api):
    for code in ("a", "b"):
        assert create(api, code).status_code == 201
    for body, path in (({"codes": ["a"]}, "codes"), ({"codes": [f"x{i}" for i in range(21)]}, "codes"),
                       ({"codes": ["a", "b", "a"]}, "codes.2"), ({"codes": ["a", "B!"]}, "codes.1"),
                       ({}, "codes")):
        r = api.post(f"{URL}/overlap", json=body)
        assert r.status_code == 422 and path in r.json["errors"], (body, r.json)
    r = api.post(f"{URL}/overlap", json={"codes": ["a", "nope", "b"]})
    assert r.status_code == 404 and r.json["errors"] == {"codes.1": ["unknown segment 'nope'"]}


def test_overlap_and_explain_are_read_only_for_a_viewer(api, feed):
    for code in ("a", "b"):
        assert create(api, code).status_code == 201
    store_membership(feed, {"c1": ["a", "b"]})
    viewer = api.as_role("viewer")
    assert viewer.post(f"{URL}/overlap", json={"codes": ["a", "b"]}).json["union"] == 1
    r = viewer.post(f"{URL}/explain", json={"customer_id": "c1", "code": "a"})
    assert r.status_code == 200 and r.json["member"] is True
    assert api.as_role("ingest").post(f"{URL}/overlap", json={"codes": ["a", "b"]}).status_code == 403
