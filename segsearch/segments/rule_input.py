"""A rule given as JSON (`rule`) or as text (`rule_text`, CONTRACT 6.8), for every caller.

The API (preview, segments, /rules/format and /rules/parse) and the admin go through these
few functions, so a text is read and a rule written the same way everywhere.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from marshmallow import ValidationError

from segsearch.errors import Invalid
from segsearch.rules.fields import FieldDef
from segsearch.rules.text import TextError, parse
from segsearch.rules.text_format import format_rule
from segsearch.rules.validation import RuleError
from segsearch.segments.preview import rule_invalid

BOTH = "Give either rule or rule_text, not both."
MAX_TEXT = 100_000  # characters of a rule text: far above any rule a person writes
TOO_LONG = f"Longer than maximum length {MAX_TEXT}."


class TextInvalid(Invalid):
    """A text that is not a valid rule: a 422 that also says where (line, column)."""

    def __init__(self, err: TextError, key: str) -> None:
        super().__init__(f"Invalid rule text: {err}", {key: err.problems})
        self.line, self.column, self.expected = err.line, err.column, err.expected

    def body(self) -> dict:
        """The error body: the usual shape plus `line`, `column` and `expected`."""
        from segsearch.errors import body
        return {**body(self.status, self.message, self.errors), "line": self.line,
                "column": self.column, "expected": self.expected}


def rule_from_text(text: str, fields: Mapping[str, FieldDef], key: str = "text") -> dict:
    """The canonical rule of `text`, or TextInvalid with its errors under `key`."""
    try:
        if len(text) > MAX_TEXT:
            line = text.count("\n", 0, MAX_TEXT) + 1
            raise TextError(TOO_LONG, line, MAX_TEXT - text.rfind("\n", 0, MAX_TEXT))
        return parse(text, fields)
    except TextError as err:
        raise TextInvalid(err, key) from None


def with_rule_from_text(data: Any, fields: Callable[[], Mapping[str, FieldDef]] | None) -> Any:
    """A request body with its `rule_text` (if any) replaced by `rule`, the canonical rule.

    For a schema's pre_load: raises ValidationError naming `rule_text` (each message says
    line and column) for a bad text, or for a body that gives both `rule` and `rule_text`.
    """
    if not isinstance(data, Mapping) or "rule_text" not in data:
        return data
    _, errors = one_rule(data, required=False)
    text = data["rule_text"]
    if not errors and text is not None and not isinstance(text, str):
        errors = {"rule_text": ["Not a valid string."]}
    if errors:
        raise ValidationError(errors)
    if fields is None:  # fail closed, like RuleField: a rule is never taken unchecked
        raise RuntimeError("rule_text needs the catalogue provider in the schema context")
    rest = {k: v for k, v in data.items() if k != "rule_text"}
    if text is None:
        return {**rest, "rule": None}
    try:
        return {**rest, "rule": rule_from_text(text, fields(), "rule_text")}
    except TextInvalid as err:
        raise ValidationError(err.errors) from None


def text_of_rule(rule: Any, fields: Mapping[str, FieldDef], prefix: str = "rule") -> str:
    """The text form of `rule`, or Invalid naming the rule's bad paths under `prefix`."""
    try:
        return format_rule(rule, fields)
    except RuleError as err:
        raise rule_invalid(err, prefix) from None


def one_rule(data: Mapping[str, Any], required: bool) -> tuple[str | None, dict[str, list[str]]]:
    """Which of `rule` / `rule_text` the body gives ("rule", "rule_text" or None) and the
    errors of giving both, or neither when one is `required`."""
    if "rule" in data and "rule_text" in data:
        return None, {"rule_text": [BOTH]}
    given = [key for key in ("rule", "rule_text") if data.get(key) is not None]
    if not given and required:
        return None, {"rule": ["Missing data for required field (or give rule_text)."]}
    return (given[0] if given else None), {}
