"""Pure parts of the editor's value suggestions and its messages in plain words."""
from __future__ import annotations

import re

import pytest

from segsearch.admin.wording import place, say, worded
from segsearch.rules.fields import catalogue
from segsearch.segments.values import case_insensitive_regex


@pytest.mark.parametrize("text, matches, misses", [
    ("mos", ["mos", "MOS", "Mos"], ["mo", "mosx", "m.s"]),
    ("a.b*", ["a.b*", "A.B*"], ["axb*", "a.bb"]),
    ("ёж 1", ["ЁЖ 1"], ["еж 1"]),
])
def test_the_prefix_regex_matches_the_text_in_any_case_and_nothing_else(text, matches, misses):
    # Lucene's syntax agrees with Python's for these escapes and classes.
    regex = re.compile(case_insensitive_regex(text))
    assert all(regex.fullmatch(m) for m in matches)
    assert not any(regex.fullmatch(m) for m in misses)


def test_messages_in_plain_words_with_their_place():
    rule = {"groups": [{"block": "customer", "conditions": [{"field": "city"}]},
                       {"block": "orders", "conditions": [{"field": "orders"}]}]}
    fields = catalogue()
    assert place("rule.groups.1.conditions.0.where.total.to", rule, fields) == \
        "Block 2 (Orders), criterion 1 (Orders), only orders where the total, end"
    assert place("rule.groups.5.conditions.0.to", rule, fields) == "Block 6, criterion 1, end"
    assert place("code", rule, fields) == "Symbolic code"
    assert say("must be on or after 'from'") == "The end must be on or after the start."
    assert say("Must match ^[a-z0-9][a-z0-9_-]{0,63}$.").startswith("Use lowercase Latin letters")
    assert say("must be between -36500 and 36500") == "Enter a number from -36500 to 36500."
    assert say("line 1, column 3: expected a field") == "line 1, column 3: expected a field"
    assert worded({"a": "must be a number", "b": ["must be an integer"]}) == {
        "a": ["Enter a number."], "b": ["Enter a whole number."]}
