"""End to end on the embedded default: deploy, then the table lifecycle a user goes through."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import boto3
from boto3.dynamodb.types import Binary

from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.config import Config
from dynamo_continuous_backup.core.records import iter_lines, sequence_key
from dynamo_continuous_backup.local import LocalRuntime
from dynamo_continuous_backup.local.streams import lambda_record
from dynamo_continuous_backup.provisioning.status import fleet_status

from ..helpers import BUCKET, s3_records


def item_shapes(rng: random.Random, pk: str, version: int) -> dict[str, Any]:
    shape = rng.randrange(4)
    base: dict[str, Any] = {"pk": pk, "v": version}
    if shape == 0:
        return {**base, "name": f"näme-{version} ✓", "price": Decimal("12345678901234567890.123456789")}
    if shape == 1:
        return {**base, "tags": {"a", "b", f"t{version}"}, "nums": {1, 2, version + 3}, "ok": True, "none": None}
    if shape == 2:
        return {
            **base,
            "doc": {"nested": {"list": [1, "two", {"three": [3]}]}, "empty": ""},
            "bin": Binary(b"\x00\xff"),
        }
    return {**base, "blob": "x" * rng.randrange(1, 5000), "bins": {Binary(b"a"), Binary(b"b")}}


def object_keys(aws: Clients, prefix: str) -> list[str]:
    return [
        o["Key"]
        for page in aws.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        for o in page.get("Contents", [])
    ]


def stream_as_delivered(aws: Clients, table: str) -> list[dict[str, Any]]:
    arn = aws.dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = aws.streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    it = aws.streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    out: list[dict[str, Any]] = []
    while True:
        page = aws.streams.get_records(ShardIterator=it, Limit=1000)
        if not page["Records"]:
            return out
        out += [lambda_record(r, arn) for r in page["Records"]]
        it = page["NextShardIterator"]


def test_create_write_delete_is_captured_completely(
    deployed: tuple[Config, LocalRuntime], aws: Clients, make_table: Callable[..., str]
) -> None:
    config, runtime = deployed
    # GIVEN a deployed stack, WHEN a user creates two tables (one excluded by the regex)
    make_table("orders")
    make_table("scratch-1")
    runtime.settle()
    # THEN only the opted-in one is protected, without any other call
    rows = {r.table: r for r in fleet_status(aws, config)}
    assert rows["orders"].protected and not rows["scratch-1"].opted_in and rows["scratch-1"].stream_view_type is None
    # ... and the ensure function gave its delivery stream its alarms, notifying deploy's topic
    delivery_alarms = aws.get("cloudwatch").describe_alarms(AlarmNamePrefix="dynamo-backup-delivery-")["MetricAlarms"]
    [topic] = [t["TopicArn"] for t in aws.get("sns").list_topics()["Topics"]]
    assert sorted((a["AlarmName"], a["AlarmActions"][0]) for a in delivery_alarms) == [
        ("dynamo-backup-delivery-orders-failing", topic),
        ("dynamo-backup-delivery-orders-freshness", topic),
    ]

    # WHEN 1,000 puts, updates and deletes of several item shapes happen
    table = boto3.resource("dynamodb").Table("orders")
    rng = random.Random(3)
    for n in range(1000):
        pk = f"item-{rng.randrange(60)}"
        op = rng.random()
        if op < 0.6:
            table.put_item(Item=item_shapes(rng, pk, n))
        elif op < 0.85:
            table.update_item(
                Key={"pk": pk},
                UpdateExpression="SET v = :v, extra = :e",
                ExpressionAttributeValues={":v": n, ":e": {"when": n}},
            )
        else:
            table.delete_item(Key={"pk": pk})
    runtime.settle()

    # THEN every change is in S3 exactly as the stream delivered it
    expected = {r["dynamodb"]["SequenceNumber"]: r for r in stream_as_delivered(aws, "orders")}
    got = s3_records(aws, "backups/orders/")
    assert len(expected) >= 1000  # moto emits a record per change; some calls change twice
    assert {r["SequenceNumber"] for r in got} == set(expected)
    for rec in got:
        src = expected[rec["SequenceNumber"]]
        assert rec["eventName"] == src["eventName"] and rec["eventID"] == src["eventID"]
        for field in ("Keys", "NewImage", "OldImage"):
            assert rec.get(field) == src["dynamodb"].get(field), field
    # ... and within every delivered object each item's changes are in stream order.
    for key in object_keys(aws, "backups/orders/"):
        seen: dict[str, str] = {}
        for rec in iter_lines(aws.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()):
            pk = rec["Keys"]["pk"]["S"]
            assert pk not in seen or sequence_key(seen[pk]) < sequence_key(rec["SequenceNumber"])
            seen[pk] = rec["SequenceNumber"]

    # WHEN the table is deleted
    aws.dynamodb.delete_table(TableName="orders")
    runtime.settle()
    assert aws.firehose.list_delivery_streams()["DeliveryStreamNames"] == ["orders"]  # draining
    time.sleep(1.1)
    runtime.fire_schedules(force=True)  # the hourly reconcile
    assert (
        aws.lambda_.list_event_source_mappings(FunctionName=config.forwarder_function_name)["EventSourceMappings"] == []
    )
    time.sleep(5)
    runtime.fire_schedules(force=True)
    # THEN mapping and delivery stream are gone after draining, and the backups stay
    assert aws.firehose.list_delivery_streams()["DeliveryStreamNames"] == []
    assert aws.get("cloudwatch").describe_alarms(AlarmNamePrefix="dynamo-backup-delivery-")["MetricAlarms"] == []
    assert len(s3_records(aws, "backups/orders/")) == len(got)


def test_writes_just_before_delete_table_are_drained(
    deployed: tuple[Config, LocalRuntime], aws: Clients, make_table: Callable[..., str]
) -> None:
    _, runtime = deployed
    make_table("orders")
    runtime.settle()
    for n in range(25):
        aws.dynamodb.put_item(TableName="orders", Item={"pk": {"S": f"k{n}"}})
    aws.dynamodb.delete_table(TableName="orders")  # before the poller saw the writes
    runtime.settle()
    assert len(s3_records(aws, "backups/orders/")) == 25


def test_tables_created_by_restore_and_while_not_looking_are_covered(
    deployed: tuple[Config, LocalRuntime], aws: Clients, make_table: Callable[..., str]
) -> None:
    config, runtime = deployed
    make_table("orders")
    runtime.settle()
    # WHEN a table is created by RestoreTableFromBackup, THEN its own event protects it (no reconcile needed)
    backup = aws.dynamodb.create_backup(TableName="orders", BackupName="orders-b1")["BackupDetails"]["BackupArn"]
    aws.dynamodb.restore_table_from_backup(TargetTableName="orders-restored", BackupArn=backup)
    runtime.settle()
    assert {r.table: r for r in fleet_status(aws, config)}["orders-restored"].protected  # by its own event
    assert ("dynamo-backup-ensure", "Scheduled Event") not in runtime.invocations
    # WHEN a table is created while nothing watches, THEN only the reconcile schedule protects it
    # A table created while no runtime was watching: only the reconcile schedule can see it.
    make_table("unseen")
    later = LocalRuntime(aws)  # started after the creation: its CreateTable event is lost
    later.settle()
    assert not {r.table: r for r in fleet_status(aws, config)}["unseen"].protected
    later.fire_schedules(force=True)
    assert {r.table: r for r in fleet_status(aws, config)}["unseen"].protected
