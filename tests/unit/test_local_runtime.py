"""The local runtime's EventBridge matching, schedule rates and idle backoff."""

from __future__ import annotations

import pytest

from dynamo_continuous_backup.install.deployer import event_pattern
from dynamo_continuous_backup.local.emulator import _dispatcher
from dynamo_continuous_backup.local.eventbridge import TableState, lifecycle_events, matches, rate_seconds
from dynamo_continuous_backup.local.runtime import IDLE_CAP, idle_wait
from dynamo_continuous_backup.local.streams import MappingPoller, should_invoke


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


@pytest.mark.parametrize(
    ("held", "since", "now", "window", "retrying", "invoke"),
    [
        (0, None, 100.0, 30.0, False, False),  # nothing to send
        (3, None, 100.0, 0.0, False, True),  # no window: at once, as before
        (3, None, 100.0, 30.0, False, False),  # first seen: the window starts
        (3, 100.0, 129.9, 30.0, False, False),  # within the window: keep gathering
        (3, 100.0, 130.0, 30.0, False, True),  # the window has passed
        (4, 100.0, 100.5, 30.0, False, True),  # the batch is full (limit 4)
        (9, 100.0, 100.5, 30.0, False, True),  # more than full
        (3, 100.0, 100.5, 30.0, True, True),  # a retry is not gathered again
    ],
)
def test_should_invoke_waits_for_the_window_unless_the_batch_is_full(
    held: int, since: float | None, now: float, window: float, retrying: bool, invoke: bool
) -> None:
    assert should_invoke(held, 4, since, now, window, retrying) is invoke


class FakeStreams:
    """One shard whose records are the sequence numbers appended to `records`."""

    def __init__(self) -> None:
        self.records: list[dict] = []

    def describe_stream(self, StreamArn: str) -> dict:
        return {"StreamDescription": {"Shards": [{"ShardId": "s1"}]}}

    def get_shard_iterator(self, **kw: str) -> dict:
        return {"ShardIterator": kw.get("SequenceNumber", "")}

    def get_records(self, ShardIterator: str, Limit: int) -> dict:
        after = int(ShardIterator or 0)
        return {"Records": [r for r in self.records if int(r["dynamodb"]["SequenceNumber"]) > after][:Limit]}

    def write(self) -> None:
        n = str(len(self.records) + 1)
        self.records.append(
            {"eventID": n, "eventName": "INSERT", "dynamodb": {"SequenceNumber": n, "Keys": {"pk": {"S": n}}}}
        )


def test_the_poller_gathers_records_for_the_mappings_window_by_its_clock() -> None:
    streams, batches, now = FakeStreams(), [], [1000.0]
    poller = MappingPoller(streams, lambda fn, event: batches.append(len(event["Records"])), clock=lambda: now[0])
    mapping = {"UUID": "u", "EventSourceArn": "arn", "FunctionArn": "fn", "BatchSize": 4}
    window = {**mapping, "MaximumBatchingWindowInSeconds": 10}
    # GIVEN a 10 s window: three writes a second apart are held, and the runtime knows when they are due
    for _ in range(3):
        streams.write()
        assert poller.poll(window) == 0
        now[0] += 1
    assert batches == [] and poller.holding and poller.due_in() == 7.0
    # WHEN the window has passed since the first: one invocation of all three
    now[0] += 7
    assert poller.poll(window) == 3 and batches == [3] and not poller.holding and poller.due_in() is None
    # a full batch goes at once, the rest waits its own window
    for _ in range(5):
        streams.write()
    assert poller.poll(window) == 4 and poller.poll(window) == 0 and batches == [3, 4]
    # without a window every poll that finds records invokes
    streams.write()
    assert poller.poll(mapping) == 2 and batches == [3, 4, 2]


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
