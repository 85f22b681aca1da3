"""Bulk item errors -> the status a client sees (issue 8 item 2)."""
from __future__ import annotations

from segsearch.feed import failures


def item(status: int, error: dict | None = None) -> dict:
    return {"_id": "c1", "status": status, "error": error or {}}


def test_a_value_the_index_refuses_is_422_naming_the_field():
    f = failures.from_bulk_item(item(400, {
        "type": "document_parsing_exception",
        "reason": "[1:30] failed to parse field [custom.big] of type [long] in document with id 'c1'.",
        "caused_by": {"type": "input_coercion_exception", "reason": "Numeric value out of range"}}))
    assert f.status == 422 and f.field == "custom.big"
    assert f.errors() == {"custom.big": [str(f)]} and "out of range" in f


def test_an_illegal_argument_without_a_field_is_422_on_the_item():
    f = failures.from_bulk_item(item(400, {"type": "illegal_argument_exception", "reason": "nope"}))
    assert f.status == 422 and f.errors() == {"_schema": [str(f)]}


def test_races_and_load_are_retryable_and_server_side_trouble_is_503():
    assert failures.from_bulk_item(item(409)).status == 409
    assert failures.from_bulk_item(item(429)).status == 429
    assert failures.retryable(409) and failures.retryable(429) and not failures.retryable(422)
    assert failures.from_bulk_item(item(503, {"type": "unavailable_shards_exception"})).status == 503


def test_a_failure_still_reads_as_its_reason():
    assert failures.MISSING == "missing" and failures.MISSING.status == 404
