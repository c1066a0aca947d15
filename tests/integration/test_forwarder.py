"""Forwarder against moto's Firehose and S3 (and fakes in front of them for failures)."""

from __future__ import annotations

import copy
from typing import Any

from dynamo_continuous_backup import forwarder
from dynamo_continuous_backup.capture.forwarder import Forwarder
from dynamo_continuous_backup.core import naming
from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.config import Config
from dynamo_continuous_backup.core.records import sequence_key

from ..fakes import FakeFirehose, LambdaContext, client_error, first, load_event, stream_event
from ..helpers import (
    BUCKET,
    delivery_stream,
    firehose_down,
    make_forwarder,
    run_like_lambda,
    s3_records,
    timed_forwarder,
)


def assert_complete(event: dict[str, Any], delivered: list[dict[str, Any]]) -> None:
    sent = {r["dynamodb"]["SequenceNumber"] for r in event["Records"]}
    assert {r["SequenceNumber"] for r in delivered} == sent, "records lost"


def assert_item_order(accepted: list[dict[str, Any]]) -> None:
    """Per item, the newest copy of each change, in the order Firehose accepted them, follows
    the stream's order (older copies are retry duplicates that restore collapses)."""
    last_copy = {r["SequenceNumber"]: (pos, r["Keys"]["pk"]["S"]) for pos, r in enumerate(accepted)}
    by_key: dict[str, list[str]] = {}
    for seq, (_, key) in sorted(last_copy.items(), key=lambda kv: kv[1][0]):
        by_key.setdefault(key, []).append(seq)
    for seqs in by_key.values():
        assert seqs == sorted(seqs, key=sequence_key), "per-item order broken"


def test_documented_sample_event_lands_in_s3(aws: Clients, config: Config) -> None:
    # GIVEN the delivery stream of the table named in AWS's sample event
    event = load_event("dynamodb-stream-sample.json")
    delivery_stream(aws, config, "ExampleTableWithStream")
    # WHEN the forwarder handles it
    response = forwarder.handler(event, None, make_forwarder(aws.firehose, aws.s3))
    # THEN every change is in S3 in the backup record format
    assert response == {"batchItemFailures": []}
    lines = s3_records(aws, "backups/ExampleTableWithStream/")
    assert [r["eventName"] for r in lines] == ["INSERT", "MODIFY", "REMOVE"]
    insert, modify, remove = lines
    assert insert["NewImage"] == {"Message": {"S": "New item!"}, "Id": {"N": "101"}} and "OldImage" not in insert
    assert modify["OldImage"]["Message"] == {"S": "New item!"}
    assert "NewImage" not in remove and remove["Keys"] == {"Id": {"N": "101"}}
    assert insert["ApproximateCreationDateTime"] == 1428537600
    assert insert["SequenceNumber"] == "4421584500000000017450439091"
    assert insert["tableName"] == "ExampleTableWithStream" and insert["eventID"] == "c4ca4238a0b923820dcc509a6f75849b"
    assert insert["SizeBytes"] == 26
    # AND each record names its generation: the label that ends its stream's ARN
    assert {r["streamLabel"] for r in lines} == {"2015-06-27T00:48:05.899"}


def test_thirty_percent_record_failures_lose_nothing_and_keep_item_order(aws: Clients, config: Config) -> None:
    delivery_stream(aws, config, "orders")
    event = stream_event("orders", 1000)
    flaky = FakeFirehose(aws.firehose, record_failure=0.3)
    run_like_lambda(event, make_forwarder(flaky, aws.s3))
    assert_complete(event, s3_records(aws, "backups/orders/"))
    assert_item_order(flaky.accepted)
    assert flaky.records[:2] == [500, 500]  # full aggregated records first


def test_failed_aggregated_records_on_the_emulator_lose_nothing_and_keep_the_lines(
    aws: Clients, config: Config
) -> None:
    # GIVEN 1,000 changes of 20 items and a Firehose in front of moto's that rejects the first record twice
    delivery_stream(aws, config, "orders")
    event = stream_event("orders", 1000)
    flaky = FakeFirehose(aws.firehose, reject=lambda call, position: call <= 2 and position == 0)
    # WHEN Lambda runs the forwarder until the batch succeeds
    run_like_lambda(event, make_forwarder(flaky, aws.s3))
    # THEN S3 holds every change, the newest copy of each item is its newest change, and the
    # lines in S3 are exactly the lines Firehose accepted
    stored = s3_records(aws, "backups/orders/")
    assert_complete(event, stored)
    assert_item_order(flaky.accepted)
    assert sorted(stored, key=lambda r: r["SequenceNumber"]) == sorted(
        flaky.accepted, key=lambda r: r["SequenceNumber"]
    )


def test_aggregation_keeps_the_s3_objects_lines_byte_for_byte(aws: Clients, config: Config) -> None:
    # GIVEN one batch, delivered once a change per Firehose record (the former design), once aggregated
    delivery_stream(aws, config, "orders")
    event = stream_event("orders", 1200)
    lines: dict[int, list[bytes]] = {}
    for per_record in (1, 500):
        fwd = Forwarder(aws.firehose, aws.s3, BUCKET, config.prefix, lines_per_record=per_record)
        assert forwarder.handler(event, None, fwd) == {"batchItemFailures": []}
        found = []
        for obj in aws.s3.list_objects_v2(Bucket=BUCKET, Prefix="backups/orders/").get("Contents", []):
            found += aws.s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read().splitlines(keepends=True)
            aws.s3.delete_object(Bucket=BUCKET, Key=obj["Key"])
        lines[per_record] = sorted(found)
    # THEN the objects hold the very same lines
    assert lines[500] == lines[1] and len(lines[1]) == 1200


def test_whole_call_throttling_is_retried(aws: Clients, config: Config) -> None:
    delivery_stream(aws, config, "orders")
    event = stream_event("orders", 300)
    flaky = FakeFirehose(aws.firehose, fail=first(3, client_error("ServiceUnavailableException", "PutRecordBatch")))
    assert run_like_lambda(event, make_forwarder(flaky, aws.s3)) == 1
    assert_complete(event, s3_records(aws, "backups/orders/"))
    assert_item_order(flaky.accepted)


def test_outage_longer_than_an_invocation_reports_the_first_undelivered(aws: Clients, config: Config) -> None:
    delivery_stream(aws, config, "orders")
    event = stream_event("orders", 50)
    response = forwarder.handler(event, None, firehose_down(aws, config))
    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["dynamodb"]["SequenceNumber"]}]}
    # ... and once Firehose is back, Lambda's retry from there delivers everything.
    run_like_lambda(event, make_forwarder(aws.firehose, aws.s3))
    assert_complete(event, s3_records(aws, "backups/orders/"))


def test_oversize_record_goes_to_s3_with_a_pointer(aws: Clients, config: Config) -> None:
    delivery_stream(aws, config, "big")
    event = stream_event("big", 3, keys=3, payload=10)
    event["Records"][1]["dynamodb"]["NewImage"] = {"pk": {"S": "k"}, "blob": {"S": "é" * 600_000}}
    event["Records"][1]["dynamodb"]["OldImage"] = copy.deepcopy(event["Records"][1]["dynamodb"]["NewImage"])
    assert forwarder.handler(event, None, make_forwarder(aws.firehose, aws.s3)) == {"batchItemFailures": []}
    lines = s3_records(aws, "backups/big/")
    assert len(lines) == 3
    pointer = lines[1]
    assert "NewImage" not in pointer and pointer["oversizeS3Key"].startswith("backups/@oversize/big/")
    full = s3_records(aws, pointer["oversizeS3Key"])[0]
    assert full["NewImage"]["blob"]["S"] == "é" * 600_000


def test_missing_delivery_stream_fails_the_batch_at_once_for_lambda_to_retry(aws: Clients, config: Config) -> None:
    # GIVEN a table whose delivery stream does not exist (moto answers ResourceNotFoundException)
    event = stream_event("nostream", 5)
    firehose = FakeFirehose(aws.firehose)
    fwd, sleeps = timed_forwarder(firehose, aws.s3)
    # WHEN the forwarder gets a batch with 300 s of invocation time left
    response = forwarder.handler(event, LambdaContext(300), fwd)
    # THEN it gives the batch back to Lambda after one call, without waiting out its time
    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["dynamodb"]["SequenceNumber"]}]}
    assert len(firehose.calls) == 1 and sleeps == []


def test_long_table_name_routes_to_the_hashed_delivery_stream(aws: Clients, config: Config) -> None:
    table = "a" * 80
    delivery_stream(aws, config, table)
    event = stream_event(table, 10)
    assert forwarder.handler(event, None, make_forwarder(aws.firehose, aws.s3)) == {"batchItemFailures": []}
    assert len(s3_records(aws, f"backups/{table}/")) == 10


def test_an_existing_oversize_object_is_never_replaced(aws: Clients, config: Config) -> None:
    # GIVEN an oversize change already stored (an earlier attempt, or someone else's object)
    delivery_stream(aws, config, "big")
    event = stream_event("big", 1, keys=1, payload=10)
    event["Records"][0]["dynamodb"]["NewImage"] = {"pk": {"S": "k"}, "blob": {"S": "x" * 1_100_000}}
    record = event["Records"][0]
    key = naming.oversize_key(config.prefix, "big", record["dynamodb"]["SequenceNumber"], record["eventID"])
    aws.s3.put_object(Bucket=BUCKET, Key=key, Body=b"first")
    # WHEN the forwarder handles the change (again)
    assert forwarder.handler(event, None, make_forwarder(aws.firehose, aws.s3)) == {"batchItemFailures": []}
    # THEN the object keeps its one version, and the pointer line names it
    versions = aws.s3.list_object_versions(Bucket=BUCKET, Prefix=key).get("Versions", [])
    assert len(versions) == 1 and aws.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"first"
    [pointer] = s3_records(aws, "backups/big/")
    assert pointer["oversizeS3Key"] == key
