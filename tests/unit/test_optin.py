import logging

import pytest

from dynamo_continuous_backup.core.errors import ConfigError
from dynamo_continuous_backup.provisioning.optin import OptIn


def test_all_filters_must_agree() -> None:
    f = OptIn(include="prod-.*", exclude=".*-tmp", hook="tests.fakes:only_even_length")
    assert f.covers("prod-abc")  # all three say yes
    assert not f.covers("prod-ab")  # the hook says no (odd length)
    assert not f.covers("prod-a-tmp")
    assert not f.covers("dev-abcd")


def test_regexes_match_at_the_start_as_the_original_tool_did() -> None:
    # re.match, as the awslabs tool: a migrated `prod-` keeps covering `prod-orders`
    assert OptIn(include="prod-").covers("prod-orders")
    assert not OptIn(include="prod-").covers("preprod-orders")  # anchored at the start
    assert not OptIn(include="prod$").covers("prod-orders")  # `$` asks for the exact name
    assert not OptIn(exclude="tmp").covers("tmp-orders")  # the exclude regex alike
    assert OptIn(exclude="tmp").covers("orders-tmp")


def test_broken_filter_is_an_error_at_provision_time() -> None:
    with pytest.raises(ConfigError, match="hook is broken"):
        OptIn(hook="tests.fakes:broken").covers("t")
    with pytest.raises(ConfigError):
        OptIn(include="a((").covers("t")


def test_broken_filter_fails_open_in_lambda(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert OptIn(hook="tests.fakes:broken", strict=False).covers("t")
        assert OptIn(include="a((", strict=False).covers("t")
    assert "backing it up anyway" in caplog.text
