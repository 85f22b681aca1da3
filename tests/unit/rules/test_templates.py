"""Ready-made segment templates: all valid, all compile."""

from __future__ import annotations

from datetime import date

import pytest

from segsearch.rules.compiler import compile_rule
from segsearch.rules.fields import catalogue
from segsearch.rules.templates import TEMPLATES
from segsearch.rules.validation import validate_rule

FIELDS = catalogue()


def test_there_are_enough_templates_with_unique_codes() -> None:
    codes = [t["code"] for t in TEMPLATES]
    assert len(codes) >= 8
    assert len(set(codes)) == len(codes)


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t["code"])
def test_template_shape(template: dict) -> None:
    assert set(template) == {"code", "name", "description", "rule"}
    assert template["name"] and template["description"]


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t["code"])
def test_template_rule_is_valid_and_normalised(template: dict) -> None:
    # Written in normalised form, so what the editor loads is what gets saved.
    assert validate_rule(template["rule"], FIELDS) == template["rule"]


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t["code"])
def test_template_compiles(template: dict) -> None:
    query = compile_rule(template["rule"], FIELDS, today=date(2024, 6, 15), timezone="UTC")
    assert query and "match_all" not in query


def test_examples_from_the_brief() -> None:
    by_code = {t["code"]: t["rule"]["groups"][0]["conditions"][0] for t in TEMPLATES}
    assert by_code["never-ordered"] == {
        "field": "orders", "op": "count", "min": 0, "max": 0, "where": {}
    }
    assert by_code["birthday-next-7-days"]["ignore_year"] is True
    assert by_code["bought-tea-last-90-days"]["where"] == {
        "product_groups": ["tea"],
        "created": {"op": "relative", "from_days": -90, "to_days": 0},
    }
