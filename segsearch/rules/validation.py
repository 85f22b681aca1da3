"""Validate a rule against the field catalogue, failing closed.

The structure (rule, group, the operands of each operator) is described by marshmallow
schemas that reject unknown keys and never coerce JSON types (``"1"`` is not a number,
``true`` is not ``1``). The catalogue decides which operand schema a condition gets.
Every error is collected, keyed by its dotted path relative to the rule
(``groups.1.conditions.0.to``), so a 422 can name them all at once.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validates_schema
from marshmallow.validate import Length, OneOf, Range

from segsearch import limits

from .fields import BLOCKS, FieldDef

MAX_DAYS = 36_500  # relative offsets: a century either way keeps date arithmetic in range
MAX_AGE = 150
MAX_MONEY = 1e12  # far above any real total; its cents stay exact in a double (< 2**53)


class RuleError(Exception):
    """An invalid rule; `errors` maps dotted paths to messages (the 422 body)."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(f"invalid rule: {errors}")
        self.errors = errors


# --- strict JSON value fields ------------------------------------------------------------


class _Exact(fields.Field):
    """A JSON value taken as is when `problem` finds none: no coercion ("1" is no number)."""

    def problem(self, value: Any) -> str | None:
        """The error key for `value`, or None when it is acceptable."""
        raise NotImplementedError

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        problem = self.problem(value)
        if problem is not None:
            raise self.make_error(problem)
        return value


def _exact(name: str, message: str, accepts: Callable[[Any], bool]) -> type[_Exact]:
    def problem(self: _Exact, value: Any) -> str | None:
        return None if accepts(value) else "invalid"

    attrs = {"default_error_messages": {"invalid": message}, "problem": problem}
    return type(name, (_Exact,), attrs)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # bool is an int in Python


StrictBool = _exact("StrictBool", "must be true or false", lambda v: isinstance(v, bool))


class StrictInt(_Exact):
    """An integer (no bool, no float) within the index's type: a long by default."""

    default_error_messages = {"invalid": "must be an integer",
                              "range": "is out of range for a 64-bit integer"}
    low, high = limits.INT64_MIN, limits.INT64_MAX

    def problem(self, value: Any) -> str | None:
        if not _is_int(value):
            return "invalid"
        return None if self.low <= value <= self.high else "range"


class StrictInt32(StrictInt):
    """An integer within an Elasticsearch "integer" (orders_count, order counts)."""

    default_error_messages = {"range": "is out of range for a 32-bit integer"}
    low, high = -limits.INT32_MAX - 1, limits.INT32_MAX


class StrictNumber(_Exact):
    """A finite number within a double's range (1e400, as an int or an inf float, is not)."""

    default_error_messages = {"invalid": "must be a number", "range": "is out of range"}

    def problem(self, value: Any) -> str | None:
        if not (_is_int(value) or isinstance(value, float)):
            return "invalid"
        return None if limits.finite_double(value) else "range"


class Day(_Exact):
    """A calendar day ``YYYY-MM-DD`` that exists (kept as the string)."""

    default_error_messages = {"invalid": "must be a date YYYY-MM-DD", "day": "is not a real day",
                              "range": limits.DAY_RANGE_MESSAGE}
    # A regex, not date.fromisoformat alone: that also takes "20240101" and week dates.
    pattern = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")

    def problem(self, value: Any) -> str | None:
        match = self.pattern.fullmatch(value) if isinstance(value, str) else None
        if match is None:
            return "invalid"
        try:
            day = date(*(int(part) for part in self.parts(match)))
        except ValueError:
            return "day"
        # A day is shifted into UTC and its end is the next day: keep both in the calendar.
        return None if limits.MIN_DAY <= day <= limits.MAX_DAY else "range"

    def parts(self, match: re.Match) -> tuple[str, ...]:
        return match.groups()


class MonthDay(Day):
    """A month-day ``MM-DD`` that exists in some year (so 02-29 is valid)."""

    default_error_messages = {
        "invalid": "must be MM-DD when ignore_year is true",
        "day": "is not a real month-day",
    }
    pattern = re.compile(r"([0-9]{2})-([0-9]{2})")

    def parts(self, match: re.Match) -> tuple[str, ...]:
        return ("2000", *match.groups())  # a leap year, so 02-29 is real


def _two_decimals(value: float) -> None:
    # Money has at most two decimals: sums are then exact in minor units (cents).
    if Decimal(str(value)).as_tuple().exponent < -2:  # type: ignore[operator]
        raise ValidationError("must have at most 2 decimals")


# --- operand schemas ---------------------------------------------------------------------

Check = Callable[[dict], dict[str, str]]


class _Strict(Schema):
    """Unknown keys are errors; `checks` are cross-field checks run after the fields."""

    class Meta:
        unknown = RAISE

    checks: tuple[Check, ...] = ()

    @validates_schema
    def _run_checks(self, data: dict, **kwargs: Any) -> None:
        errors: dict[str, list[str]] = {}
        for check in self.checks:
            for key, message in check(data).items():
                errors.setdefault(key, []).append(message)
        if errors:
            raise ValidationError(errors)


NOT_NEGATIVE = Range(min=0, error="must be 0 or more")
BETWEEN_MIN_MAX = "must be between {min} and {max}"


def _schema(name: str, declared: dict[str, fields.Field], *checks: Check) -> type[Schema]:
    # from_dict because operand names like "from" cannot be class attributes.
    cls = _Strict.from_dict(dict(declared), name=name)
    setattr(cls, "checks", checks)  # noqa: B010  (read by _Strict's validator)
    return cls


def _ordered(lo: str, hi: str, message: str) -> Check:
    """A check that `lo` <= `hi` when both are given (the error goes on `hi`)."""

    def check(data: dict) -> dict[str, str]:
        a, b = data.get(lo), data.get(hi)
        return {hi: message} if a is not None and b is not None and a > b else {}

    return check


def _span_under_a_year(data: dict) -> dict[str, str]:
    # A (month, day) window of 365+ days would cover some days twice: ambiguous.
    if data["to_days"] - data["from_days"] > 364:
        return {"to_days": "the span must be under a year (to_days - from_days <= 364)"}
    return {}


def _include_or_exclude(data: dict) -> dict[str, str]:
    if data["include"] or data["exclude"]:
        return {}
    return {"include": "give at least one value to include or exclude"}


def _opt(field_cls: type[fields.Field], *validators: Callable) -> fields.Field:
    return field_cls(load_default=None, validate=list(validators))


def _req(field_cls: type[fields.Field], *validators: Callable) -> fields.Field:
    return field_cls(required=True, validate=list(validators))


def _strings(**kwargs: Any) -> fields.Field:
    # Each value is one term of a terms query: within Lucene's term limit, and the list
    # within Elasticsearch's index.max_terms_count.
    return fields.List(fields.String(validate=Length(min=1, max=limits.MAX_KEYWORD_CHARS)),
                       validate=Length(max=limits.MAX_TERMS), **kwargs)


def _money() -> fields.Field:
    too_large = Range(max=MAX_MONEY, error="is too large")
    return _opt(StrictNumber, NOT_NEGATIVE, too_large, _two_decimals)


def _days(required: bool = False) -> fields.Field:
    make = _req if required else _opt
    return make(StrictInt, Range(-MAX_DAYS, MAX_DAYS, error=BETWEEN_MIN_MAX))


def _no_ignore_year() -> fields.Field:
    # Datetimes are instants: a (month, day) of an instant depends on the zone. Only
    # date fields (birthday, custom dates) carry a precomputed *_md value.
    not_true = OneOf([False], error="only date fields can ignore the year")
    return StrictBool(validate=not_true)


AFTER_FROM = "must be on or after 'from'"
NOT_BELOW_FROM = "must be greater than or equal to 'from'"
NOT_BELOW_FROM_DAYS = "must be greater than or equal to 'from_days'"


def _pair(
    name: str, ends: str, make: Callable[[], fields.Field], *checks: Check, **extra: Any
) -> type[Schema]:
    """Operands `lo` and `hi` (ends "lo..hi") built by `make`, plus `extra` fields."""
    lo, hi = ends.split("..")
    return _schema(name, {lo: make(), hi: make(), **extra}, *checks)


def _from_to(
    name: str, make: Callable[[], fields.Field], message: str, **extra: Any
) -> type[Schema]:
    return _pair(name, "from..to", make, _ordered("from", "to", message), **extra)


def _relative(
    name: str, make: Callable[[], fields.Field], *checks: Check, **extra: Any
) -> type[Schema]:
    ordered = _ordered("from_days", "to_days", NOT_BELOW_FROM_DAYS)
    return _pair(name, "from_days..to_days", make, ordered, *checks, **extra)


_age = lambda: _opt(StrictInt, Range(0, MAX_AGE, error=BETWEEN_MIN_MAX))  # noqa: E731
_keep_year = lambda: StrictBool(load_default=False)  # noqa: E731

NO_OPERANDS = _schema("NoOperands", {})
IN = _schema(
    "In",
    {"include": _strings(load_default=list), "exclude": _strings(load_default=list)},
    _include_or_exclude,
)
IS = _schema("Is", {"value": StrictBool(required=True)})
NUMBER_BETWEEN = _from_to("NumberBetween", lambda: _opt(StrictNumber), NOT_BELOW_FROM)
INTEGER_BETWEEN = _from_to("IntegerBetween", lambda: _opt(StrictInt), NOT_BELOW_FROM)
INTEGER32_BETWEEN = _from_to("Integer32Between", lambda: _opt(StrictInt32), NOT_BELOW_FROM)
AGE_BETWEEN = _from_to("AgeBetween", _age, NOT_BELOW_FROM)
DATE_BETWEEN = _from_to("DateBetween", lambda: _opt(Day), AFTER_FROM, ignore_year=_keep_year())
DATETIME_BETWEEN = _from_to(
    "DatetimeBetween", lambda: _opt(Day), AFTER_FROM, ignore_year=_no_ignore_year()
)
# No order check: from > to wraps the new year.
MONTH_DAY_BETWEEN = _pair(
    "MonthDayBetween", "from..to", lambda: _req(MonthDay), ignore_year=StrictBool(required=True)
)
DATE_RELATIVE = _relative("DateRelative", _days, ignore_year=_keep_year())
DATETIME_RELATIVE = _relative("DatetimeRelative", _days, ignore_year=_no_ignore_year())
MONTH_DAY_RELATIVE = _relative(
    "MonthDayRelative",
    lambda: _days(required=True),
    _span_under_a_year,
    ignore_year=StrictBool(required=True),
)


class ByOp(fields.Field):
    """A nested object whose operand schema is chosen by its own ``op`` key."""

    def __init__(self, schemas: Mapping[str, type[Schema]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.schemas = schemas

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dict:
        if not isinstance(value, dict):
            raise ValidationError("must be an object")
        op = value.get("op")
        if not isinstance(op, str) or op not in self.schemas:
            raise ValidationError({"op": [f"must be one of: {', '.join(self.schemas)}"]})
        operands = {k: v for k, v in value.items() if k != "op"}
        return {"op": op, **_instance(self.schemas[op]).load(operands)}


TOTAL = _from_to("Total", _money, NOT_BELOW_FROM)
# Absent `where` parts stay absent: each one only narrows the orders.
WHERE = _schema(
    "Where",
    {
        "statuses": _strings(),
        "stores": _strings(),
        "pipelines": _strings(),
        "product_ids": _strings(),
        "product_groups": _strings(),
        "created": ByOp({"between": DATETIME_BETWEEN, "relative": DATETIME_RELATIVE}),
        "total": fields.Nested(TOTAL),
    },
)
_count = lambda: _opt(StrictInt32, NOT_NEGATIVE)  # noqa: E731  (compared with orders_count)
COUNT = _schema(
    "Count",
    {"min": _count(), "max": _count(), "where": fields.Nested(WHERE, load_default=dict)},
    _ordered("min", "max", "must be greater than or equal to 'min'"),
)
SUM = _schema(
    "Sum",
    {"from": _money(), "to": _money(), "where": fields.Nested(WHERE, load_default=dict)},
    _ordered("from", "to", NOT_BELOW_FROM),
)

# Operand schema by operator; `between`/`relative` also depend on the field type, and on
# date fields on ignore_year ("date+md").
OPERANDS_BY_OP: dict[str, type[Schema]] = {
    "in": IN,
    "exists": NO_OPERANDS,
    "missing": NO_OPERANDS,
    "is": IS,
    "count": COUNT,
    "sum": SUM,
}
OPERANDS_BY_TYPE: dict[tuple[str, str], type[Schema]] = {
    ("between", "number"): NUMBER_BETWEEN,
    ("between", "integer"): INTEGER_BETWEEN,
    ("between", "age"): AGE_BETWEEN,
    ("between", "date"): DATE_BETWEEN,
    ("between", "date+md"): MONTH_DAY_BETWEEN,
    ("between", "datetime"): DATETIME_BETWEEN,
    ("relative", "date"): DATE_RELATIVE,
    ("relative", "date+md"): MONTH_DAY_RELATIVE,
    ("relative", "datetime"): DATETIME_RELATIVE,
}


# Integer fields mapped as a 32-bit "integer" (the rest, custom integers, are "long"):
# Elasticsearch refuses a range query bound beyond the field's type.
INT32_FIELDS = frozenset({"orders_count"})


def operand_schema(fdef: FieldDef, op: str, condition: Mapping) -> type[Schema]:
    """The operand schema for `op` on `fdef` (the op must be one of the field's)."""
    if op in OPERANDS_BY_OP:
        return OPERANDS_BY_OP[op]
    if op == "between" and fdef.type == "integer" and fdef.code in INT32_FIELDS:
        return INTEGER32_BETWEEN
    ignore_year = fdef.type == "date" and condition.get("ignore_year") is True
    return OPERANDS_BY_TYPE[(op, "date+md" if ignore_year else fdef.type)]


# --- rule structure ----------------------------------------------------------------------

_match = lambda: fields.String(load_default="all", validate=OneOf(["all", "any"]))  # noqa: E731
RULE = _schema("Rule", {"match": _match(), "groups": fields.List(fields.Raw(), required=True)})
GROUP = _schema(
    "Group",
    {
        "block": fields.String(required=True, validate=OneOf(BLOCKS)),
        "match": _match(),
        "negate": StrictBool(load_default=False),
        "conditions": fields.List(
            fields.Raw(),
            required=True,
            validate=Length(min=1, error="a group needs at least one condition"),
        ),
    },
)

Errors = dict[str, list[str]]
MISSING = "Missing data for required field."  # marshmallow's wording, for one error style


def _add(errors: Errors, path: str, message: str) -> None:
    errors.setdefault(path, []).append(message)


def _join(prefix: str, key: object) -> str:
    return f"{prefix}.{key}" if prefix else str(key)


def _flatten(messages: Any, prefix: str, errors: Errors) -> None:
    """Marshmallow's nested messages -> {dotted path: [messages]}."""
    if isinstance(messages, dict):
        for key, sub in messages.items():
            _flatten(sub, prefix if key == "_schema" else _join(prefix, key), errors)
    elif isinstance(messages, list):
        for message in messages:
            _flatten(message, prefix, errors)
    else:
        _add(errors, prefix or "_schema", str(messages))


@functools.cache
def _instance(schema: type[Schema]) -> Schema:
    # Building a schema costs more than loading a condition with it; loads share one.
    return schema()


def _load(schema: type[Schema], data: Any, prefix: str, errors: Errors) -> dict | None:
    """Load `data`; on errors record them and return what was valid (None if nothing)."""
    try:
        return _instance(schema).load(data)
    except ValidationError as exc:
        _flatten(exc.messages, prefix, errors)
        return exc.valid_data if isinstance(exc.valid_data, dict) else None


def _field_def(
    condition: dict, fields_: Mapping[str, FieldDef], block: str | None, path: str, errors: Errors
) -> FieldDef | None:
    code = condition.get("field")
    if "field" not in condition or not isinstance(code, str) or code not in fields_:
        missing = "field" not in condition
        _add(errors, f"{path}.field", MISSING if missing else f"unknown field {code!r}")
        return None
    fdef = fields_[code]
    if block is not None and fdef.block != block:
        message = f"field {code!r} belongs to block {fdef.block!r}, not {block!r}"
        _add(errors, f"{path}.field", message)
    return fdef


def _operator(condition: dict, fdef: FieldDef, path: str, errors: Errors) -> str | None:
    op = condition.get("op")
    if op in fdef.operators:
        return op
    message = (
        f"operator {op!r} is not allowed for {fdef.type} field {fdef.code!r}; "
        f"allowed: {', '.join(fdef.operators)}"
    )
    _add(errors, f"{path}.op", message if "op" in condition else MISSING)
    return None


def _condition(
    raw: Any, fields_: Mapping[str, FieldDef], block: str | None, path: str, errors: Errors
) -> dict | None:
    if not isinstance(raw, dict):
        _add(errors, path, "Invalid input type.")
        return None
    fdef = _field_def(raw, fields_, block, path, errors)
    op = _operator(raw, fdef, path, errors) if fdef is not None else None
    if fdef is None or op is None:
        return None
    operands = {k: v for k, v in raw.items() if k not in ("field", "op")}
    loaded = _load(operand_schema(fdef, op, raw), operands, path, errors)
    return {"field": fdef.code, "op": op, **(loaded or {})}


def _group(raw: Any, fields_: Mapping[str, FieldDef], path: str, errors: Errors) -> dict | None:
    group = _load(GROUP, raw, path, errors)
    if group is None:
        return None
    conditions = [
        _condition(c, fields_, group.get("block"), f"{path}.conditions.{i}", errors)
        for i, c in enumerate(group.get("conditions", []))
    ]
    return {**group, "conditions": conditions}


def validate_rule(rule: Any, fields: Mapping[str, FieldDef]) -> dict:
    """Return a normalised copy of `rule` (defaults filled) or raise RuleError.

    Every problem is reported, keyed by its path relative to the rule, e.g.
    ``{"groups.1.conditions.0.to": ["must be on or after 'from'"]}``.
    """
    errors: Errors = {}
    top = _load(RULE, rule, "", errors) or {}
    groups = [_group(g, fields, f"groups.{i}", errors) for i, g in enumerate(top.get("groups", []))]
    if errors:
        raise RuleError(errors)
    return {"match": top["match"], "groups": groups}
