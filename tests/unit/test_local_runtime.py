"""The local runtime's EventBridge matching, schedule rates and idle backoff."""

from __future__ import annotations

import pytest

from dynamo_continuous_backup.install.deployer import event_pattern
from dynamo_continuous_backup.local.emulator import _dispatcher
from dynamo_continuous_backup.local.eventbridge import TableState, lifecycle_events, matches, rate_seconds
from dynamo_continuous_backup.local.runtime import IDLE_CAP, idle_wait


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


def test_an_idle_runtime_backs_off_to_the_cap_and_a_delivery_resets_it() -> None:
    waits, wait = [], 0.0
    for busy in (False, False, False, False, False, True, False, False):
        wait = idle_wait(wait, busy, base=0.2, cap=1.0)
        waits.append(wait)
    # idle: base, doubling up to the cap; a step that delivered goes on at once, then base again
    assert waits == [0.2, 0.4, 0.8, 1.0, 1.0, 0.0, 0.2, 0.4]


def test_the_idle_cap_never_polls_faster_than_asked() -> None:
    assert idle_wait(0.0, False, base=5.0, cap=1.0) == 5.0  # a poll interval above the cap is kept
    assert idle_wait(100.0, False, base=0.1) == IDLE_CAP <= 2.0  # the default cap: at most 2 s late


def test_the_emulators_dispatcher_looks_each_host_up_once() -> None:
    asked: list[str | None] = []

    class MotoDispatcher:  # moto's lookup, as the emulator's dispatcher sees it
        def __init__(self, create_app: object) -> None:
            pass

        def get_backend_for_host(self, host: str | None) -> str:
            asked.append(host)
            return f"backend of {host}"

    dispatcher = _dispatcher(MotoDispatcher, None)
    hosts = ["dynamodb.us-east-1.amazonaws.com", "s3.amazonaws.com", "dynamodb.us-east-1.amazonaws.com", None, None]
    assert [dispatcher.get_backend_for_host(h) for h in hosts] == [f"backend of {h}" for h in hosts]
    assert asked == ["dynamodb.us-east-1.amazonaws.com", "s3.amazonaws.com", None]
