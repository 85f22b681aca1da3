"""The recalculation schedule with a frozen clock: formed at creation, again after the
interval (not before), inactive untouched, expiry empties, a start forms, and a relative
birthday window entered exactly three days before."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from freezegun import freeze_time

from segsearch.segments.engine import Engine

pytestmark = pytest.mark.integration
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
RULE = {"match": "all", "groups": [{"block": "customer", "conditions": [
    {"field": "city", "op": "in", "include": ["Moscow"]}]}]}


@pytest.fixture
def engine(api, feed):
    feed.import_dataset(customers=[{"id": "m1", "city": "Moscow"}, {"id": "k1", "city": "Kazan"}])
    return Engine(api.app.extensions["segsearch"])


def due_at(engine, moment):
    with freeze_time(moment):
        return dict(engine.due())


def form(engine, moment, code, reason="recalculation"):
    with freeze_time(moment):
        return engine.form(code, reason)


def iso(moment):
    return moment.isoformat().replace("+00:00", "Z")


def test_dynamic_segment_recalculated_every_interval(api, engine):
    with freeze_time(T0):
        assert api.post("/api/v1/segments", json={"code": "s", "name": "S", "rule": RULE}).status_code == 201
    assert due_at(engine, T0) == {"s": "recalculation"}  # pending: formed at creation
    assert form(engine, T0, "s", "created")["count"] == 1
    assert due_at(engine, T0 + timedelta(hours=3, minutes=59)) == {}
    assert due_at(engine, T0 + timedelta(hours=4)) == {"s": "recalculation"}
    form(engine, T0 + timedelta(hours=4), "s")
    assert due_at(engine, T0 + timedelta(hours=5)) == {}


def test_inactive_segment_is_never_due(api, engine):
    with freeze_time(T0):
        api.post("/api/v1/segments", json={"code": "s", "name": "S", "rule": RULE, "active": False})
    assert due_at(engine, T0 + timedelta(days=3)) == {}
    assert form(engine, T0, "s") == {"skipped": "inactive"}


def test_expiry_empties_the_segment_and_its_user_group(api, engine):
    with freeze_time(T0):
        api.post("/api/v1/segments", json={"code": "s", "name": "S", "rule": RULE, "user_group": "VIP",
                                          "expires_at": iso(T0 + timedelta(days=1))})
    form(engine, T0, "s", "created")
    assert api.get("/api/v1/customers/m1").json["user_groups"] == ["VIP"]
    later = T0 + timedelta(days=1, minutes=1)
    assert due_at(engine, later) == {"s": "expiry"}
    assert form(engine, later, "s", "expiry")["left"] == 1
    m1 = api.get("/api/v1/customers/m1").json
    assert m1["segments"] == [] and m1["user_groups"] == []
    assert api.get("/api/v1/customers/m1/segment-history").json[0]["reason"] == "expiry"
    assert due_at(engine, later + timedelta(hours=5)) == {}  # nothing left to empty


def test_segment_forms_when_it_starts(api, engine):
    starts = T0 + timedelta(days=2)
    with freeze_time(T0):
        api.post("/api/v1/segments", json={"code": "s", "name": "S", "rule": RULE, "starts_at": iso(starts)})
    assert form(engine, T0, "s", "created")["count"] == 0  # not started: no members
    assert due_at(engine, T0 + timedelta(hours=1)) == {}
    assert due_at(engine, starts + timedelta(minutes=1)).get("s") in ("start", "recalculation")
    assert form(engine, starts + timedelta(minutes=1), "s", "start")["count"] == 1


def test_birthday_in_three_days_enters_exactly_three_days_before(api, engine, feed):
    feed.import_dataset(customers=[{"id": "b1", "birthday": "1990-12-05"}])
    rule = {"match": "all", "groups": [{"block": "customer", "conditions": [
        {"field": "birthday", "op": "relative", "ignore_year": True, "from_days": 0, "to_days": 3}]}]}
    with freeze_time(T0):
        api.post("/api/v1/segments", json={"code": "bday", "name": "Birthday soon", "rule": rule})
    # birthday on 5 Dec: enters on 2 Dec (5 Dec = today + 3), stays through the day itself
    for day, expected in [(30, []), (1, []), (2, ["bday"]), (5, ["bday"]), (6, [])]:
        month = 11 if day == 30 else 12
        moment = datetime(2026, month, day, 0, 30, tzinfo=timezone.utc)
        form(engine, moment, "bday")
        assert api.get("/api/v1/customers/b1").json["segments"] == expected, (month, day)
