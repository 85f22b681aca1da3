"""Every limit on input, in one table: what the index can hold, with a margin.

The API validates against these before anything reaches Elasticsearch, so a value the
index would refuse is a 422 naming the field, never a 5xx (CONTRACT 6.6). The README's
"Errors and limits" section lists the same numbers.
"""
from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from typing import Any

from marshmallow import ValidationError, validate

# -- bodies ---------------------------------------------------------------------------------
# Containers ({} or []) nested in one JSON body. The deepest real body (a segment with an
# orders condition's `where.created`) is 8 levels; the parser itself recurses per level.
MAX_JSON_DEPTH = 32

# -- strings --------------------------------------------------------------------------------
# Lucene refuses a keyword term over 32766 UTF-8 bytes: 1000 characters (at most 4000
# bytes) stays far below it whatever the script.
MAX_KEYWORD_CHARS = 1000
MAX_USER_GROUP_CHARS = 128  # a user group label (segments grant it, people assign it)
MAX_EMAIL_CHARS = 320  # RFC 5321: 64 local + @ + 255 domain
# External ids (customers, orders, products, product groups): printable ASCII that is
# safe in a URL path, a CSV cell and a log line. The first character is a letter or a
# digit, so no id starts with "=", "+", "-" or "@" (spreadsheet formulas) nor with "_"
# (Elasticsearch and our own routes, e.g. /customers/_bulk).
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"  # as OpenAPI shows it
ID_RE = re.compile(ID_PATTERN)  # always used with fullmatch: "$" also matches before a "\n"
ID_RULE = ("1 to 128 characters: ASCII letters, digits and . _ : @ -, "
           "starting with a letter or a digit")

# -- lists ----------------------------------------------------------------------------------
MAX_TAGS = 100            # tags of one customer
MAX_ORDER_ITEMS = 1000    # items of one order
MAX_PRODUCT_GROUPS = 100  # groups one product is filed under
# Values in one rule condition (include, exclude, each `where` list). Elasticsearch
# refuses a terms query over index.max_terms_count (65536).
MAX_TERMS = 10_000
# Entries of a static segment's imported list, per list (ids, e-mails): each list
# becomes one terms query, so it stays under max_terms_count too.
MAX_MEMBERS = 50_000

# -- numbers --------------------------------------------------------------------------------
INT32_MAX = 2**31 - 1     # Elasticsearch "integer" (orders_count, customers_count)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # "long" (integer custom fields)
# Money (order totals, item and product prices): at most two decimals, non-negative. A
# trillion keeps the minor units (cents) exact in a double (< 2**53) and far inside a long.
MAX_MONEY = 10**12

# -- dates ----------------------------------------------------------------------------------
# Python and Elasticsearch's ISO format both stop at years 1..9999; a value must stay
# inside after conversion to UTC. Calendar days keep one day of margin at each end,
# because a day in SEGSEARCH_TIMEZONE spans up to a day of UTC on either side.
MIN_DAY, MAX_DAY = date(1, 1, 2), date(9999, 12, 30)
YEAR_RANGE_MESSAGE = "Out of range: the time in UTC must fall within years 1 to 9999."
DAY_RANGE_MESSAGE = f"Out of range: days from {MIN_DAY} to {MAX_DAY}."


def to_utc(moment: datetime) -> datetime:
    """An aware or naive (taken as UTC) datetime in UTC; ValidationError outside years 1..9999."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValidationError(YEAR_RANGE_MESSAGE) from None


def check_day(day: date) -> date:
    """`day` itself, or a ValidationError when it is too close to the ends of the calendar."""
    if not MIN_DAY <= day <= MAX_DAY:
        raise ValidationError(DAY_RANGE_MESSAGE)
    return day


def is_id(value: Any) -> bool:
    """Whether `value` is an id of the id alphabet."""
    return isinstance(value, str) and ID_RE.fullmatch(value) is not None


# -- marshmallow validators -----------------------------------------------------------------
class FullRegexp(validate.Regexp):
    """validate.Regexp over the whole value: with re.match, "^a$" accepts "a\n".
    (apispec still reads `.regex.pattern` into the OpenAPI document.)"""

    def __call__(self, value):  # type: ignore[override]  # str only, like the fields it guards
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


def id_field_validator() -> validate.Validator:
    return FullRegexp(ID_RE, error="Not a valid id: " + ID_RULE + ".")


def keyword(min_chars: int = 0, max_chars: int = MAX_KEYWORD_CHARS) -> validate.Validator:
    return validate.Length(min=min_chars, max=max_chars)


def finite_double(value: Any) -> bool:
    """Whether `value` (an int or float, not a bool) fits a double and is finite."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an int beyond 1.8e308
        return False


def custom_value_problem(value: Any) -> str | None:
    """What no custom field of any type can hold, whatever its type (None when fine).

    Typing against the registered field is the feed's job; this keeps out what the
    index would refuse for every type: integers beyond a long, non-finite numbers,
    strings over the keyword limit, nested values.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if INT64_MIN <= value <= INT64_MAX else "Out of range: beyond a 64-bit integer."
    if isinstance(value, float):
        return None if math.isfinite(value) else "Not a finite number."
    if isinstance(value, str):
        if len(value) > MAX_KEYWORD_CHARS:
            return f"Longer than {MAX_KEYWORD_CHARS} characters."
        return None
    return "Not a single value (a string, number, boolean, date or null)."
