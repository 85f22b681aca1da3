"""The CSV export's rows without a node: the fast row encoder checked against csv_row, the
cell-by-cell definition of the exported text (reading: tests/integration/test_export_read.py)."""
from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segsearch.segments import export
from segsearch.segments.export import COLUMNS, SOURCE, _valid_cut, csv_row

# -- the rows: the fast encoder writes exactly what csv_row defines -----------------------
_text = st.one_of(st.sampled_from(["=1+2", "+7 916 000-00-00", "-2+3", "@SUM(A1)", "\tx", "\rx",
                                   "a,b", 'say "hi"', "two\nlines", "", "Ольга", "-5", "+"]),
                  st.text(max_size=12))
_value = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                   st.floats(allow_nan=False, allow_infinity=False), _text,
                   st.lists(_text, max_size=3))
_groups = st.one_of(st.none(), st.lists(_text, max_size=3))  # the feed writes lists of groups
_doc = st.builds(lambda cells, groups: {**cells, **groups},
                 st.dictionaries(st.sampled_from(SOURCE[:-2]), _value),
                 st.dictionaries(st.sampled_from(SOURCE[-2:]), _groups))


def _encode(rows: list[list]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    return buf.getvalue()


@settings(max_examples=100, deadline=None)
@given(st.lists(_doc, max_size=5))
def test_fast_rows_equal_csv_row(docs):
    fast = export._csv_chunk(map(export._row, [{"_source": d} for d in docs]))
    assert fast == _encode([csv_row(d) for d in docs])


def test_formula_guard_and_cells():
    row = dict(zip(COLUMNS, csv_row({
        "id": "c1", "first_name": "=HYPERLINK(\"x\")", "phone": "+7 916 000-00-00",
        "tags": ["=cmd", "b;c"], "vip": True, "email_subscribed": False, "orders_count": 2,
        "total_spent": 37.5, "manual_user_groups": ["Loyal"], "segment_user_groups": ["VIP", "Loyal"]})))
    assert row["first_name"] == "'=HYPERLINK(\"x\")" and row["phone"] == "+7 916 000-00-00"
    assert row["tags"] == "'=cmd;b;c" and (row["vip"], row["email_subscribed"]) == ("true", "false")
    assert (row["orders_count"], row["total_spent"], row["sms_subscribed"]) == ("2", "37.5", "")
    assert row["user_groups"] == "Loyal;VIP"


@pytest.mark.parametrize(("value", "cut"), [
    (5, 5),  # one shard: any doc id is valid
    (2**31 - 1, 2**31 - 1),
    (2**31, 2**31 - 1),  # past the last possible doc of shard 0 (the node would read -2^31)
    (0xAAAAAAAA, 2**31 - 1),  # a third of the way from shard 0 to shard 2
    ((1 << 32) | 7, (1 << 32) | 7),
    ((2 << 32) | 0xFFFFFFFF, (2 << 32) | (2**31 - 1)),
])
def test_range_cuts_keep_a_doc_id_the_node_can_read(value, cut):
    assert _valid_cut(value) == cut
