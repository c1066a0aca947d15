"""The local runtime's own semantics: EventBridge matching and Lambda-like stream batches; and
`dynamo-backup local` on a port already taken."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.config import Config
from dynamo_continuous_backup.local import LocalRuntime
from dynamo_continuous_backup.local.emulator import EmbeddedMoto
from dynamo_continuous_backup.local.streams import MappingPoller
from dynamo_continuous_backup.provisioning.provisioner import Provisioner

from ..helpers import PREFIX, cli, s3_records


@pytest.fixture
def stream(aws: Clients, make_table: Callable[..., str]) -> dict[str, Any]:
    make_table("t", stream="NEW_AND_OLD_IMAGES")
    for i in range(10):
        aws.dynamodb.put_item(TableName="t", Item={"pk": {"S": f"k{i}"}})
    arn = aws.dynamodb.describe_table(TableName="t")["Table"]["LatestStreamArn"]
    return {
        "UUID": "u1",
        "EventSourceArn": arn,
        "FunctionArn": "fn",
        "BatchSize": 4,
        "StartingPosition": "TRIM_HORIZON",
        "BisectBatchOnFunctionError": True,
        "MaximumRetryAttempts": -1,
    }


def seq_of_last(aws: Clients, mapping: dict[str, Any]) -> str:
    shard = aws.streams.describe_stream(StreamArn=mapping["EventSourceArn"])["StreamDescription"]["Shards"][0]
    it = aws.streams.get_shard_iterator(
        StreamArn=mapping["EventSourceArn"], ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    return str(aws.streams.get_records(ShardIterator=it)["Records"][-1]["dynamodb"]["SequenceNumber"])


def keys_of(event: dict[str, Any]) -> list[str]:
    return [r["dynamodb"]["Keys"]["pk"]["S"] for r in event["Records"]]


def test_batches_respect_batch_size_and_resume_at_the_reported_failure(aws: Clients, stream: dict) -> None:
    seen: list[list[str]] = []

    def invoke(fn: str, event: dict[str, Any]) -> dict[str, Any]:
        seen.append(keys_of(event))
        if len(seen) == 1:  # the first batch fails at its third record
            return {"batchItemFailures": [{"itemIdentifier": event["Records"][2]["dynamodb"]["SequenceNumber"]}]}
        return {"batchItemFailures": []}

    poller = MappingPoller(aws.streams, invoke)
    while poller.poll(stream):
        pass
    assert seen[0] == ["k0", "k1", "k2", "k3"] and seen[1] == ["k2", "k3", "k4", "k5"]
    assert all(len(b) <= 4 for b in seen) and seen[-1][-1] == "k9"
    assert [c.after for c in poller.cursors.values()] == [seq_of_last(aws, stream)]


def test_errors_are_retried_with_bisect_until_delivered(aws: Clients, stream: dict) -> None:
    seen: list[list[str]] = []
    failures = iter([True, True, False] + [False] * 20)

    def invoke(fn: str, event: dict[str, Any]) -> dict[str, Any]:
        seen.append(keys_of(event))
        if next(failures):
            raise RuntimeError("handler crashed")
        return {}

    poller = MappingPoller(aws.streams, invoke)
    for _ in range(20):
        poller.poll(stream)
    assert [len(b) for b in seen[:3]] == [4, 2, 1]  # bisected after each error
    delivered = [k for b in seen[2:] for k in b]
    assert sorted(set(delivered)) == [f"k{i}" for i in range(10)]


def test_limited_retries_discard_the_batch_like_lambda(aws: Clients, stream: dict) -> None:
    stream = {**stream, "MaximumRetryAttempts": 1, "BisectBatchOnFunctionError": False}
    seen: list[list[str]] = []

    def invoke(fn: str, event: dict[str, Any]) -> dict[str, Any]:
        seen.append(keys_of(event))
        if "k0" in keys_of(event):
            raise RuntimeError("poison record")
        return {}

    poller = MappingPoller(aws.streams, invoke)
    for _ in range(10):
        poller.poll(stream)
    assert seen[:2] == [["k0", "k1", "k2", "k3"]] * 2 and ["k4", "k5", "k6", "k7"] in seen


def test_writes_within_the_window_reach_the_forwarder_in_one_invocation(
    deployed: tuple[Config, LocalRuntime], aws: Clients, make_table: Callable[..., str]
) -> None:
    config, runtime = deployed
    make_table("orders")
    runtime.settle()  # the ensure function protects it (the fixture's window: 0)
    # GIVEN the mapping's window set to 60 s by an ensure, and the runtime's clock under the test's control
    assert Provisioner(aws, config.replace(streams_batching_window_seconds=60)).ensure("orders").actions == (
        "update_mapping",
    )
    now = [1000.0]
    runtime.poller.clock = lambda: now[0]

    def batches() -> int:
        return sum(kind == "stream batch" for _, kind in runtime.invocations)

    # WHEN five writes are made, the runtime polling after each, within the window
    for i in range(5):
        aws.dynamodb.put_item(TableName="orders", Item={"pk": {"S": f"k{i}"}})
        runtime.step()
        now[0] += 1
    # THEN nothing is invoked until the window passes, then one invocation delivers all five
    assert batches() == 0 and runtime.poller.holding
    now[0] += 60
    runtime.settle()
    assert batches() == 1
    assert sorted(r["Keys"]["pk"]["S"] for r in s3_records(aws, f"{PREFIX}/orders/")) == [f"k{i}" for i in range(5)]
    # and with the window back at 0, each poll that finds a write invokes (today's behaviour)
    Provisioner(aws, config.replace(streams_batching_window_seconds=0)).ensure("orders")
    for i in range(5, 8):
        aws.dynamodb.put_item(TableName="orders", Item={"pk": {"S": f"k{i}"}})
        runtime.step()
    assert batches() == 4
    # settle() waits out a window (real time, 1 s) instead of stopping while records are held
    Provisioner(aws, config.replace(streams_batching_window_seconds=1)).ensure("orders")
    runtime.poller.clock = time.monotonic
    for i in range(8, 10):
        aws.dynamodb.put_item(TableName="orders", Item={"pk": {"S": f"k{i}"}})
    runtime.settle()
    assert batches() == 5 and len(s3_records(aws, f"{PREFIX}/orders/")) == 10


def test_a_second_local_on_a_busy_port_exits_2_with_one_line(moto_server: EmbeddedMoto) -> None:
    # GIVEN the tests' emulator on its port, WHEN `dynamo-backup local` is started on the same port
    answers: list[tuple[int, str, str]] = []
    second = threading.Thread(target=lambda: answers.append(cli("local", "--port", str(moto_server.port))), daemon=True)
    second.start()
    second.join(timeout=60)  # it used to wait forever for a server that never started
    # THEN it exits 2 at once with one line naming the port and the fix, and prints nothing else
    assert not second.is_alive() and answers, "dynamo-backup local hangs on a busy port"
    [(code, out, err)] = answers
    assert code == 2 and out == ""
    assert err == (
        f"error: port {moto_server.port} is already in use (another `dynamo-backup local`?): "
        "stop it, or choose another port with --port\n"
    )
