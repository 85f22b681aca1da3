"""Marshmallow schemas of stored segments (CONTRACT section 4): input, output, list args.

Input schemas validate everything a body alone can tell: field types, the code pattern,
the rule against the field catalogue, the static/dynamic shape and the date window.
What needs the stored segment (immutable code and type, a static segment's locked
rule) is checked by the service. The catalogue comes from the schema context as
``{"fields": <callable returning the catalogue>}`` so it is read per request (custom
fields change at run time) and unit tests can pass a fixed one.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
    validates_schema,
)

from segsearch import bounded_json, limits
from segsearch.feed.schemas import UTCDateTime
from segsearch.rules.fields import FieldDef
from segsearch.rules.validation import RuleError, validate_rule
from segsearch.segments.rule_input import with_rule_from_text

CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
# Codes that would collide with fixed routes under /api/v1/segments/.
RESERVED_CODES = frozenset({"preview", "explain", "overlap"})
TYPES = ("dynamic", "static")
STATUSES = ("pending", "forming", "formed", "failed")
MAX_MEMBERS = limits.MAX_MEMBERS  # per list; an imported list is stored in the segment
SORT_KEYS = ("code", "name", "created_at", "updated_at", "customers_count", "last_formed_at")
SORTS = SORT_KEYS + tuple(f"-{key}" for key in SORT_KEYS)
DEFAULT_SORT = "-created_at"

Catalogue = Mapping[str, FieldDef]

_name = validate.Length(max=256)
_label = validate.Length(min=1, max=limits.MAX_USER_GROUP_CHARS)
_strict_bool = {"truthy": {True}, "falsy": {False}}


def _not_blank(value: str) -> None:
    if not value.strip():
        raise ValidationError("Must not be blank.")


def _code(value: str) -> None:
    if not CODE_RE.fullmatch(value):
        raise ValidationError("Must match ^[a-z0-9][a-z0-9_-]{0,63}$.")
    if value in RESERVED_CODES:
        raise ValidationError(f"{value!r} is reserved.")


class RuleField(fields.Dict):
    """A rule (CONTRACT section 5), validated against the catalogue and normalised."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dict:
        provider: Callable[[], Catalogue] | None = self.context.get("fields")
        if provider is None:  # fail closed: a rule is never stored unchecked
            raise RuntimeError("RuleField needs context={'fields': <catalogue provider>}")
        try:
            return validate_rule(value, provider())
        except RuleError as err:
            # "_schema" is the rule itself: flatten() turns it into the path "rule".
            raise ValidationError(dict(err.errors)) from None


class MembersSchema(Schema):
    """An imported list of a static segment; duplicates are dropped, order kept."""

    class Meta:
        unknown = RAISE

    emails = fields.List(fields.Email(validate=validate.Length(max=limits.MAX_EMAIL_CHARS)),
                         load_default=list, validate=validate.Length(max=MAX_MEMBERS))
    customer_ids = fields.List(fields.String(validate=limits.id_field_validator()),
                               load_default=list, validate=validate.Length(max=MAX_MEMBERS))

    @validates_schema
    def _not_empty(self, data: dict, **kwargs: Any) -> None:
        if not data.get("emails") and not data.get("customer_ids"):
            raise ValidationError("At least one email or customer id.", "_schema")

    @post_load
    def _dedupe(self, data: dict, **kwargs: Any) -> dict:
        # Emails compare case-insensitively; the engine matches them the same way.
        emails = dict.fromkeys(e.strip().lower() for e in data["emails"])
        return {"emails": list(emails), "customer_ids": list(dict.fromkeys(data["customer_ids"]))}


class _SegmentFields(Schema):
    """Fields shared by create and patch; none has a default here."""

    class Meta:
        unknown = RAISE

    name = fields.String(validate=[_name, _not_blank])
    description = fields.String(allow_none=True, validate=validate.Length(max=10_000))
    active = fields.Boolean(**_strict_bool)
    available_in_analytics = fields.Boolean(**_strict_bool)
    user_group = fields.String(allow_none=True, validate=_label)
    store = fields.String(allow_none=True, validate=validate.Length(min=1, max=256))
    starts_at = UTCDateTime(allow_none=True)
    expires_at = UTCDateTime(allow_none=True)
    rule = RuleField(allow_none=True, metadata={"description": "CONTRACT section 5 rule"})
    rule_text = fields.String(allow_none=True, load_only=True, metadata={
        "description": "the rule in its text form, instead of `rule` (CONTRACT 6.8)"})
    members = fields.Nested(MembersSchema, allow_none=True,
                            metadata={"description": "static segments only: an imported list"})

    @pre_load
    def _rule_text(self, data: Any, **kwargs: Any) -> Any:
        """`rule_text` becomes `rule` (canonical) before anything else looks at the rule."""
        return with_rule_from_text(data, self.context.get("fields"))

    @validates_schema(skip_on_field_errors=False)
    def _window(self, data: dict, **kwargs: Any) -> None:
        window_error(data.get("starts_at"), data.get("expires_at"))

    @post_load
    def _description(self, data: dict, **kwargs: Any) -> dict:
        if "description" in data and data["description"] is None:
            data["description"] = ""
        return data


def window_error(starts_at: str | None, expires_at: str | None) -> None:
    """Raise when both ends are set and the segment would expire before it starts."""
    if starts_at and expires_at and _instant(expires_at) <= _instant(starts_at):
        raise ValidationError("Must be after starts_at.", "expires_at")


def _instant(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def shape_errors(seg_type: str, rule: Any, members: Any) -> dict[str, list[str]]:
    """Errors of the rule/members combination for a segment type ({} when fine)."""
    if seg_type == "dynamic":
        errors = {}
        if rule is None:
            errors["rule"] = ["A dynamic segment needs a rule."]
        if members is not None:
            errors["members"] = ["Only a static segment carries members."]
        return errors
    if rule is not None and members is not None:
        return {"members": ["A static segment has a rule or members, not both."]}
    if rule is None and members is None:
        return {"rule": ["A static segment needs a rule or members."]}
    return {}


class SegmentCreate(_SegmentFields):
    """POST /segments: a new segment."""

    code = fields.String(required=True, validate=_code,
                         metadata={"description": "unique, immutable symbolic code"})
    name = fields.String(required=True, validate=[_name, _not_blank])
    description = fields.String(load_default="", allow_none=True,
                                validate=validate.Length(max=10_000))
    type = fields.String(load_default="dynamic", validate=validate.OneOf(TYPES))
    active = fields.Boolean(load_default=True, **_strict_bool)
    available_in_analytics = fields.Boolean(load_default=False, **_strict_bool)
    user_group = fields.String(load_default=None, allow_none=True, validate=_label)
    store = fields.String(load_default=None, allow_none=True,
                          validate=validate.Length(min=1, max=256))
    starts_at = UTCDateTime(load_default=None, allow_none=True)
    expires_at = UTCDateTime(load_default=None, allow_none=True)
    rule = RuleField(load_default=None, allow_none=True,
                     metadata={"description": "CONTRACT section 5 rule"})
    members = fields.Nested(MembersSchema, load_default=None, allow_none=True,
                            metadata={"description": "static segments only: an imported list"})

    @validates_schema(skip_on_field_errors=False, pass_original=True)
    def _shape(self, data: dict, original: Any, **kwargs: Any) -> None:
        if "type" not in data or not isinstance(original, Mapping):
            return  # a bad type has its own error; the shape cannot be judged
        # A field that failed its own validation is absent from data but was given:
        # count it as present so it is not also reported as missing.
        given = {key: data[key] if key in data else original.get(key)
                 for key in ("rule", "members")}
        errors = shape_errors(data["type"], given["rule"], given["members"])
        if errors:
            raise ValidationError(errors)


class SegmentPatch(_SegmentFields):
    """PATCH /segments/{code}: any subset of fields. code and type may be repeated
    unchanged (a GET body sent back) but never changed."""

    code = fields.String(validate=_code)
    type = fields.String(validate=validate.OneOf(TYPES))


class SegmentOut(Schema):
    """A stored segment as the API shows it."""

    code = fields.String()
    name = fields.String()
    description = fields.String()
    type = fields.String(metadata={"enum": list(TYPES)})
    active = fields.Boolean()
    available_in_analytics = fields.Boolean()
    user_group = fields.String(allow_none=True)
    store = fields.String(allow_none=True)
    starts_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    expires_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    rule = fields.Dict(allow_none=True)
    members_count = fields.Integer(allow_none=True, dump_default=None, metadata={
        "description": "static import: distinct emails + customer ids given"})
    members_not_found = fields.Integer(allow_none=True, dump_default=None, metadata={
        "description": "static import: entries that matched no customer (after forming)"})
    locked = fields.Boolean(metadata={"description": "static: never recalculated"})
    customers_count = fields.Integer(dump_only=True)
    status = fields.String(dump_only=True, metadata={"enum": list(STATUSES)})
    last_error = fields.String(allow_none=True, dump_default=None, dump_only=True)
    failed_attempts = fields.Integer(dump_default=0, dump_only=True, metadata={
        "description": "formations failed in a row (0 after a success); retried with back-off"})
    last_formed_at = fields.String(allow_none=True, dump_only=True, metadata={"format": "date-time"})
    next_run_at = fields.String(allow_none=True, dump_only=True, metadata={"format": "date-time"})
    created_at = fields.String(dump_only=True, metadata={"format": "date-time"})
    updated_at = fields.String(dump_only=True, metadata={"format": "date-time"})
    created_by = fields.String(allow_none=True, dump_only=True)


class SegmentPage(Schema):
    """One page of a segment list."""

    items = fields.List(fields.Nested(SegmentOut))
    next_cursor = fields.String(allow_none=True)
    total = fields.Integer()


class DayOrInstant(fields.String):
    """YYYY-MM-DD (a calendar day in SEGSEARCH_TIMEZONE) or an ISO datetime (UTC out)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            if len(text) == 10:
                # A day in SEGSEARCH_TIMEZONE: kept one day away from the calendar's ends.
                return limits.check_day(date.fromisoformat(text)).isoformat()
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError("Not a valid date or datetime.") from None
        return limits.to_utc(moment).isoformat().replace("+00:00", "Z")


class Cursor(fields.String):
    """The opaque paging cursor: base64url of {"sort": ..., "after": [...]}."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dict:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            decoded = bounded_json.loads(base64.urlsafe_b64decode(text.encode() + b"=" * (-len(text) % 4)))
        except (binascii.Error, ValueError):
            raise ValidationError("Not a valid cursor.") from None
        if not (isinstance(decoded, dict) and decoded.get("sort") in SORTS
                and _after_fits(decoded["sort"], decoded.get("after"))):
            raise ValidationError("Not a valid cursor.")
        return decoded


# Sort keys whose values are strings in search_after; the others are numbers (dates as
# epoch milliseconds). Every sort but `code` ends with the code as a tie-breaker.
_STRING_SORT_KEYS = frozenset({"code", "name"})


def _after_fits(sort: str, after: Any) -> bool:
    """Whether `after` has the shape of the sort values `sort` produces (a forged cursor
    is a 422 here, not an Elasticsearch parse error)."""
    key = sort.lstrip("-")
    if not isinstance(after, list) or len(after) != (1 if key == "code" else 2):
        return False
    if not _is_keyword(after[-1]):
        return False
    if key == "code":
        return True
    first = after[0]
    if key in _STRING_SORT_KEYS:
        return _is_keyword(first)
    # customers_count is an "integer"; dates are epoch milliseconds in a long.
    low, high = ((-limits.INT32_MAX - 1, limits.INT32_MAX) if key == "customers_count"
                 else (limits.INT64_MIN, limits.INT64_MAX))
    return isinstance(first, int) and not isinstance(first, bool) and low <= first <= high


def _is_keyword(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= limits.MAX_KEYWORD_CHARS


def encode_cursor(sort: str, after: list) -> str:
    """The cursor that continues a list sorted by `sort` after the sort values `after`."""
    raw = json.dumps({"sort": sort, "after": after}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class SegmentListArgs(Schema):
    """GET /segments query: filters, sort and cursor paging."""

    active = fields.Boolean()
    type = fields.String(validate=validate.OneOf(TYPES))
    status = fields.String(validate=validate.OneOf(STATUSES))
    available_in_analytics = fields.Boolean()
    user_group = fields.String(validate=_label)
    store = fields.String(validate=validate.Length(min=1, max=256))
    q = fields.String(validate=validate.Length(max=256),
                      metadata={"description": "words or prefixes of name, description, code"})
    # customers_count is an Elasticsearch "integer".
    min_customers = fields.Integer(validate=validate.Range(min=0, max=limits.INT32_MAX))
    max_customers = fields.Integer(validate=validate.Range(min=0, max=limits.INT32_MAX))
    created_from = DayOrInstant(metadata={"description": "YYYY-MM-DD or ISO datetime, inclusive"})
    created_to = DayOrInstant(metadata={"description": "YYYY-MM-DD or ISO datetime, inclusive"})
    sort = fields.String(load_default=DEFAULT_SORT, validate=validate.OneOf(SORTS),
                         metadata={"description": "a key, '-' for descending"})
    page_size = fields.Integer(load_default=50, validate=validate.Range(min=1, max=1000))
    cursor = Cursor(load_default=None)

    @validates_schema
    def _consistent(self, data: dict, **kwargs: Any) -> None:
        errors = {}
        low, high = data.get("min_customers"), data.get("max_customers")
        if low is not None and high is not None and high < low:
            errors["max_customers"] = ["Must not be below min_customers."]
        if data.get("cursor") and data["cursor"]["sort"] != data["sort"]:
            errors["cursor"] = ["The cursor belongs to another sort."]
        if errors:
            raise ValidationError(errors)
