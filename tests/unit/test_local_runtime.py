"""The local runtime's EventBridge matching and schedule rates."""

from __future__ import annotations

import pytest

from dynamo_continuous_backup.install.deployer import event_pattern
from dynamo_continuous_backup.local.eventbridge import TableState, lifecycle_events, matches, rate_seconds


def test_deployed_pattern_matches_table_calls_only() -> None:
    pattern = event_pattern()
    created, deleted, updated = lifecycle_events(
        {"gone": TableState(None), "s": TableState(None)},
        {"new": TableState(None), "s": TableState("KEYS_ONLY")},
        "1",
        "r",
    )
    assert [e["detail"]["eventName"] for e in (created, deleted, updated)] == [
        "CreateTable",
        "DeleteTable",
        "UpdateTable",
    ]
    assert all(matches(pattern, e) for e in (created, deleted, updated))
    other = {**created, "detail": {**created["detail"], "eventName": "PutItem"}}
    assert not matches(pattern, other)
    assert not matches(pattern, {**created, "source": "aws.s3"})


@pytest.mark.parametrize(
    ("pattern", "event", "result"),
    [
        ({"a": [{"prefix": "ord"}]}, {"a": "orders"}, True),
        ({"a": [{"prefix": "ord"}]}, {"a": "users"}, False),
        ({"a": [{"exists": False}]}, {}, True),
        ({"a": [{"anything-but": ["x"]}]}, {"a": "y"}, True),
        ({"a": [{"anything-but": ["x"]}]}, {"a": "x"}, False),
        ({"a": ["x", "y"]}, {"a": ["z", "y"]}, True),
    ],
)
def test_pattern_operators(pattern: dict, event: dict, result: bool) -> None:
    assert matches(pattern, event) is result


def test_rate_expressions() -> None:
    assert rate_seconds("rate(1 hour)") == 3600 and rate_seconds("rate(5 minutes)") == 300
    assert rate_seconds("cron(0 * * * ? *)") is None
