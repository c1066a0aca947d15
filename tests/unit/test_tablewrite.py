"""Restore's table writes against an in-memory DynamoDB: 25 requests per call, unprocessed
items retried until written, and a loud failure instead of a silent drop."""

from __future__ import annotations

import time
from typing import Any

import pytest

from dynamo_continuous_backup.core.aws import wrap
from dynamo_continuous_backup.core.errors import AwsError
from dynamo_continuous_backup.restore.tablewrite import BatchWriter, chunks

from ..fakes import StormyDynamo, client_error, first


def puts(n: int) -> list[dict[str, Any]]:
    return [{"PutRequest": {"Item": {"pk": {"S": f"k{i:03d}"}}}} for i in range(n)]


def keys(dynamo: StormyDynamo) -> list[str]:
    return sorted(item["pk"]["S"] for item in dynamo.items)


def test_chunks_of_25_keep_every_request_in_order() -> None:
    assert [len(c) for c in chunks(range(60))] == [25, 25, 10]
    assert [x for c in chunks(range(60)) for x in c] == list(range(60))
    assert [len(c) for c in chunks(range(7), size=3)] == [3, 3, 1]
    assert list(chunks([])) == []


def test_every_item_is_written_25_per_call_and_counted() -> None:
    dynamo = StormyDynamo(leave=0.0)
    written: list[int] = []
    count = BatchWriter(wrap(dynamo), "t", progress=written.append, sleep=lambda s: None).write(puts(60))
    assert count == 60 and sum(written) == 60
    assert sorted(dynamo.calls) == [10, 25, 25]
    assert keys(dynamo) == [f"k{i:03d}" for i in range(60)]


def test_unprocessed_items_are_retried_until_written() -> None:
    # GIVEN a table that leaves 60% of every batch unprocessed
    dynamo = StormyDynamo(leave=0.6)
    sleeps: list[float] = []
    # WHEN 200 items are written
    count = BatchWriter(wrap(dynamo), "t", sleep=sleeps.append).write(puts(200))
    # THEN every item is written once, after waits taken through the injected sleep, each bounded
    assert count == 200 and keys(dynamo) == [f"k{i:03d}" for i in range(200)]
    assert dynamo.unprocessed > 100 and max(dynamo.calls) <= 25
    assert sleeps and all(0 <= s <= 60 for s in sleeps)


def test_throttling_is_retried_with_waits() -> None:
    throttled = client_error("ProvisionedThroughputExceededException", "BatchWriteItem")
    dynamo = StormyDynamo(leave=0.0, fail=first(2, throttled))
    sleeps: list[float] = []
    assert BatchWriter(wrap(dynamo), "t", threads=1, sleep=sleeps.append).write(puts(30)) == 30
    assert keys(dynamo) == [f"k{i:03d}" for i in range(30)] and len(sleeps) >= 2


def test_an_error_waiting_cannot_fix_is_raised_at_once() -> None:
    dynamo = StormyDynamo(leave=0.0, fail=first(1, client_error("ValidationException", "BatchWriteItem")))
    sleeps: list[float] = []
    with pytest.raises(AwsError, match="ValidationException"):
        BatchWriter(wrap(dynamo), "t", threads=1, sleep=sleeps.append).write(puts(10))
    assert dynamo.calls == [10] and sleeps == []


def test_items_never_processed_fail_loudly_after_give_up_after() -> None:
    # GIVEN a table that never processes anything, and a writer that gives up after 300 ms
    dynamo = StormyDynamo(leave=1.0)
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        time.sleep(0.01)  # real time passes, whichever clock the writer reads

    # THEN it raises, naming the items it could not write, instead of dropping them
    with pytest.raises(AwsError, match="unprocessed"):
        BatchWriter(wrap(dynamo), "t", threads=1, sleep=sleep, give_up_after=0.3).write(puts(5))
    assert dynamo.items == [] and 0 < len(sleeps) < 100
