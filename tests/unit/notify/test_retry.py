"""The retry policy of webhook deliveries (pure)."""
from __future__ import annotations

import pytest

from segsearch.config import DEFAULTS
from segsearch.notify.retry import parse_intervals, retry_policy, total_delay


@pytest.mark.parametrize("value,expected", [
    ("10,60,300", [10, 60, 300]), (" 0 , 0 ", [0, 0]), ("5", [5]), ("none", []), ("", []),
    ([1, 2], [1, 2]),
])
def test_parse(value, expected):
    assert parse_intervals(value) == expected


@pytest.mark.parametrize("value", ["a,b", "1,,2", "-1", "1.5"])
def test_malformed(value):
    with pytest.raises(ValueError):
        parse_intervals(value)


def test_the_default_policy_retries_five_times_over_about_81_minutes():
    retry = retry_policy(DEFAULTS)
    assert retry.max == 5 and retry.intervals == [10, 60, 300, 900, 3600]
    assert total_delay(DEFAULTS) == 4870


def test_no_intervals_means_no_retry():
    assert retry_policy({"WEBHOOK_RETRY_INTERVALS": "none"}) is None


def test_config_validation_rejects_a_bad_list():
    from segsearch.config import from_env, validate
    config = from_env({"SEGSEARCH_WEBHOOK_RETRY_INTERVALS": "soon"})
    with pytest.raises(ValueError):
        validate(config)
    validate(from_env({"SEGSEARCH_WEBHOOK_RETRY_INTERVALS": "0,0,0"}))
