import logging

import pytest

from dynamo_continuous_backup.errors import ConfigError
from dynamo_continuous_backup.optin import OptIn


def test_all_filters_must_agree() -> None:
    f = OptIn(include="prod-.*", exclude=".*-tmp", hook="tests.hooks_for_tests:only_even_length")
    assert f.covers("prod-abc")  # all three say yes
    assert not f.covers("prod-ab")  # the hook says no (odd length)
    assert not f.covers("prod-a-tmp")
    assert not f.covers("dev-abcd")


def test_include_is_a_full_match() -> None:
    assert not OptIn(include="prod").covers("prod-orders")


def test_broken_filter_is_an_error_at_provision_time() -> None:
    with pytest.raises(ConfigError, match="hook is broken"):
        OptIn(hook="tests.hooks_for_tests:broken").covers("t")
    with pytest.raises(ConfigError):
        OptIn(include="a((").covers("t")


def test_broken_filter_fails_open_in_lambda(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert OptIn(hook="tests.hooks_for_tests:broken", strict=False).covers("t")
        assert OptIn(include="a((", strict=False).covers("t")
    assert "backing it up anyway" in caplog.text
