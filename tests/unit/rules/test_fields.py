"""The field catalogue: complete, typed, and consistent with the index template."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from segsearch.rules.fields import BLOCKS, BUILTIN_FIELDS, OPERATORS_BY_TYPE, FieldDef, catalogue

TEMPLATE = Path(__file__).resolve().parents[3] / "index_templates" / "customers.json"

CONTRACT_FIELDS = {
    "customer": {
        "type", "first_name", "last_name", "email", "email_domain", "phone", "sex", "birthday",
        "age", "city", "country", "store", "source", "manager", "tags", "vip", "created_at",
    },
    "orders": {
        "orders_count", "total_spent", "average_order_value", "first_order_at",
        "last_order_at", "order_statuses", "orders",
    },
    "products": {"products", "product_groups"},
    "communications": {"email_subscribed", "sms_subscribed", "last_email_opened_at"},
    "segments": {"segments"},  # CONTRACT 6.2
}

# Catalogue type -> mapping types it may be stored as.
COMPATIBLE = {
    "keyword": {"keyword"},
    "keywords": {"keyword"},
    "number": {"double", "float", "long", "integer"},
    "integer": {"integer", "long", "short"},
    "date": {"date"},
    "datetime": {"date"},
    "boolean": {"boolean"},
    "age": {"date"},
    "orders": {"nested"},
    "segments": {"keyword"},
}


def _mapping_type(path: str) -> str | None:
    props = json.loads(TEMPLATE.read_text())["template"]["mappings"]["properties"]
    *parents, leaf = path.split(".")
    for part in parents:
        props = props[part]["properties"]
    return props.get(leaf, {}).get("type")


def test_builtin_fields_are_exactly_the_contract_list() -> None:
    by_block = {block: {f.code for f in BUILTIN_FIELDS if f.block == block} for block in BLOCKS}
    assert by_block == CONTRACT_FIELDS
    assert len({f.code for f in BUILTIN_FIELDS}) == len(BUILTIN_FIELDS)


@pytest.mark.parametrize("fdef", BUILTIN_FIELDS, ids=lambda f: f.code)
def test_builtin_field_exists_in_the_index_template(fdef: FieldDef) -> None:
    assert fdef.path is not None
    assert _mapping_type(fdef.path) in COMPATIBLE[fdef.type]
    if fdef.md_path:
        assert _mapping_type(fdef.md_path) == "short"


@pytest.mark.parametrize("fdef", BUILTIN_FIELDS, ids=lambda f: f.code)
def test_operators_follow_the_type(fdef: FieldDef) -> None:
    assert fdef.operators == OPERATORS_BY_TYPE[fdef.type]
    assert (fdef.md_path is not None) == (fdef.type == "date")


def test_operator_table() -> None:
    assert OPERATORS_BY_TYPE["keyword"] == ("in", "exists", "missing")
    assert OPERATORS_BY_TYPE["date"] == ("between", "relative", "exists", "missing")
    assert OPERATORS_BY_TYPE["datetime"] == ("between", "relative", "exists", "missing")
    assert OPERATORS_BY_TYPE["boolean"] == ("is", "exists", "missing")
    assert OPERATORS_BY_TYPE["age"] == ("between", "exists", "missing")
    assert OPERATORS_BY_TYPE["orders"] == ("count", "sum")
    assert OPERATORS_BY_TYPE["segments"] == ("in",)


def test_segments_field_queries_the_stored_membership() -> None:
    fdef = catalogue()["segments"]
    assert (fdef.block, fdef.type, fdef.path, fdef.operators) == (
        "segments", "segments", "segments", ("in",))


def test_age_queries_the_birthday() -> None:
    assert catalogue()["age"].path == "birthday"


@pytest.mark.parametrize(
    ("kind", "type_", "md_path"),
    [
        ("string", "keyword", None),
        ("integer", "integer", None),
        ("decimal", "number", None),
        ("date", "date", "custom_md.since"),
        ("boolean", "boolean", None),
    ],
)
def test_custom_fields(kind: str, type_: str, md_path: str | None) -> None:
    fdef = catalogue([{"code": "since", "label": "Since", "type": kind}])["custom.since"]
    assert fdef == FieldDef(
        code="custom.since",
        label="Since",
        block="customer",
        type=type_,
        operators=OPERATORS_BY_TYPE[type_],
        path="custom.since",
        md_path=md_path,
    )


def test_custom_field_label_defaults_to_code() -> None:
    assert catalogue([{"code": "x", "type": "string"}])["custom.x"].label == "x"


def test_unknown_custom_type_fails_closed() -> None:
    with pytest.raises(ValueError, match="unknown type"):
        catalogue([{"code": "x", "label": "X", "type": "geo_point"}])


def test_catalogue_includes_builtins_and_customs() -> None:
    fields = catalogue([{"code": "x", "label": "X", "type": "string"}])
    assert set(fields) == {f.code for f in BUILTIN_FIELDS} | {"custom.x"}


def test_to_json() -> None:
    fields = catalogue([{"code": "x", "label": "X", "type": "date"}])
    assert fields["sex"].to_json() == {
        "code": "sex",
        "label": "Sex",
        "block": "customer",
        "type": "keyword",
        "operators": ["in", "exists", "missing"],
        "values": ["male", "female"],
        "custom": False,
    }
    assert fields["custom.x"].to_json()["custom"] is True
    json.dumps([f.to_json() for f in fields.values()])  # serialisable as is
