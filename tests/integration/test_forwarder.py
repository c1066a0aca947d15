"""Forwarder against moto's Firehose and S3 (and fakes in front of them for failures)."""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from dynamo_continuous_backup import forwarder
from dynamo_continuous_backup.capture.forwarder import Forwarder
from dynamo_continuous_backup.core import naming
from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.config import Config
from dynamo_continuous_backup.core.records import sequence_key

from ..conftest import BUCKET, load_event, s3_records

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/{}/stream/2026-01-01T00:00:00.000"


def delivery_stream(aws: Clients, config: Config, table: str) -> None:
    role = aws.iam.get_role(RoleName="dynamo-backup-firehose")["Role"]["Arn"]
    aws.firehose.create_delivery_stream(
        DeliveryStreamName=naming.delivery_stream_name(table),
        ExtendedS3DestinationConfiguration={
            "RoleARN": role,
            "BucketARN": f"arn:aws:s3:::{BUCKET}",
            "Prefix": naming.changes_prefix(config.prefix, table),
        },
    )


def make_forwarder(aws: Clients, config: Config, firehose: Any = None) -> Forwarder:
    return Forwarder(firehose or aws.firehose, aws.s3, BUCKET, config.prefix, sleep=lambda s: None)


def stream_event(table: str, n: int, keys: int = 20, seed: int = 1, payload: int = 200) -> dict[str, Any]:
    rng = random.Random(seed)
    records = []
    for i in range(n):
        key = {"pk": {"S": f"k{rng.randrange(keys)}"}}
        image = {**key, "v": {"N": str(i)}, "blob": {"S": "x" * payload}}
        name = rng.choice(["INSERT", "MODIFY", "REMOVE"])
        ddb: dict[str, Any] = {
            "Keys": key,
            "SequenceNumber": str(10**25 + i),
            "SizeBytes": 100,
            "ApproximateCreationDateTime": 1_700_000_000 + i,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        }
        if name != "REMOVE":
            ddb["NewImage"] = image
        if name != "INSERT":
            ddb["OldImage"] = image
        records.append({"eventID": f"e{i}", "eventName": name, "eventSourceARN": ARN.format(table), "dynamodb": ddb})
    return {"Records": records}


def run_like_lambda(event: dict[str, Any], fwd: Forwarder, limit: int = 50) -> int:
    """Invoke until the batch succeeds, resuming at the reported record, as Lambda does."""
    records = event["Records"]
    for invocation in range(1, limit + 1):
        failures = forwarder.handler({"Records": records}, None, fwd)["batchItemFailures"]
        if not failures:
            return invocation
        seq = failures[0]["itemIdentifier"]
        records = records[next(i for i, r in enumerate(records) if r["dynamodb"]["SequenceNumber"] == seq) :]
    raise AssertionError("never delivered")


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
    response = forwarder.handler(event, None, make_forwarder(aws, config))
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


class FlakyFirehose:
    """Real moto Firehose behind a fault injector: fails a share of records or whole calls."""

    def __init__(self, real: Any, record_failure: float = 0.0, call_failures: int = 0, seed: int = 7) -> None:
        self.real, self.record_failure, self.call_failures = real, record_failure, call_failures
        self.rng = random.Random(seed)
        self.calls: list[int] = []
        self.accepted: list[dict[str, Any]] = []

    def put_record_batch(self, DeliveryStreamName: str, Records: list[dict[str, bytes]]) -> dict[str, Any]:  # noqa: N803
        self.calls.append(len(Records))
        if self.call_failures:
            self.call_failures -= 1
            raise ClientError({"Error": {"Code": "ServiceUnavailableException", "Message": "down"}}, "PutRecordBatch")
        fail = [self.rng.random() < self.record_failure for _ in Records]
        kept = [r for r, f in zip(Records, fail, strict=True) if not f]
        self.accepted += [orjson.loads(r["Data"]) for r in kept]
        if kept:
            self.real.put_record_batch(DeliveryStreamName=DeliveryStreamName, Records=kept)
        responses = [
            {"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "slow down"} if f else {"RecordId": "x"}
            for f in fail
        ]
        return {"FailedPutCount": sum(fail), "RequestResponses": responses}


def firehose_down(aws: Clients, config: Config, **options: Any) -> Forwarder:
    """A forwarder whose Firehose fails every call, with a clock that runs out its time."""
    clock = iter(range(0, 10_000, 5))
    return Forwarder(
        FlakyFirehose(aws.firehose, call_failures=10**6),
        aws.s3,
        BUCKET,
        config.prefix,
        sleep=lambda s: None,
        clock=lambda: float(next(clock)),
        **options,
    )


def test_thirty_percent_record_failures_lose_nothing_and_keep_item_order(aws: Clients, config: Config) -> None:
    delivery_stream(aws, config, "orders")
    event = stream_event("orders", 1000)
    flaky = FlakyFirehose(aws.firehose, record_failure=0.3)
    run_like_lambda(event, make_forwarder(aws, config, flaky))
    assert_complete(event, s3_records(aws, "backups/orders/"))
    assert_item_order(flaky.accepted)
    assert flaky.calls[0] == 500  # full batches first


def test_whole_call_throttling_is_retried(aws: Clients, config: Config) -> None:
    delivery_stream(aws, config, "orders")
    event = stream_event("orders", 300)
    flaky = FlakyFirehose(aws.firehose, call_failures=3)
    assert run_like_lambda(event, make_forwarder(aws, config, flaky)) == 1
    assert_complete(event, s3_records(aws, "backups/orders/"))
    assert_item_order(flaky.accepted)


def test_outage_longer_than_an_invocation_reports_the_first_undelivered(aws: Clients, config: Config) -> None:
    delivery_stream(aws, config, "orders")
    event = stream_event("orders", 50)
    response = forwarder.handler(event, None, firehose_down(aws, config))
    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["dynamodb"]["SequenceNumber"]}]}
    # ... and once Firehose is back, Lambda's retry from there delivers everything.
    run_like_lambda(event, make_forwarder(aws, config))
    assert_complete(event, s3_records(aws, "backups/orders/"))


def test_oversize_record_goes_to_s3_with_a_pointer(aws: Clients, config: Config) -> None:
    delivery_stream(aws, config, "big")
    event = stream_event("big", 3, keys=3, payload=10)
    event["Records"][1]["dynamodb"]["NewImage"] = {"pk": {"S": "k"}, "blob": {"S": "é" * 600_000}}
    event["Records"][1]["dynamodb"]["OldImage"] = copy.deepcopy(event["Records"][1]["dynamodb"]["NewImage"])
    assert forwarder.handler(event, None, make_forwarder(aws, config)) == {"batchItemFailures": []}
    lines = s3_records(aws, "backups/big/")
    assert len(lines) == 3
    pointer = lines[1]
    assert "NewImage" not in pointer and pointer["oversizeS3Key"].startswith("backups/@oversize/big/")
    full = s3_records(aws, pointer["oversizeS3Key"])[0]
    assert full["NewImage"]["blob"]["S"] == "é" * 600_000


class CountingFirehose:
    """A Firehose client that records every call; `fail(n)` says how call n fails, if at all."""

    def __init__(self, real: Any = None, fail: Callable[[int], Exception | None] = lambda n: None) -> None:
        self.real, self.fail, self.calls = real, fail, 0

    def put_record_batch(self, DeliveryStreamName: str, Records: list[dict[str, bytes]]) -> dict[str, Any]:  # noqa: N803
        self.calls += 1
        error = self.fail(self.calls)
        if error is not None:
            raise error
        if self.real is not None:
            return dict(self.real.put_record_batch(DeliveryStreamName=DeliveryStreamName, Records=Records))
        return {"FailedPutCount": 0, "RequestResponses": [{"RecordId": "x"} for _ in Records]}


class LambdaContext:
    """Lambda's context with `seconds` left, on the forwarder's own (fake) clock."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def get_remaining_time_in_millis(self) -> int:
        return int(self.seconds * 1000)


def client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutRecordBatch"
    )


def timed_forwarder(aws: Clients, config: Config, firehose: Any) -> tuple[Forwarder, list[float]]:
    """A forwarder whose clock moves one second per reading and whose sleeps are recorded."""
    sleeps: list[float] = []
    clock = iter(range(10**6))
    fwd = Forwarder(firehose, aws.s3, BUCKET, config.prefix, sleep=sleeps.append, clock=lambda: float(next(clock)))
    return fwd, sleeps


def test_missing_delivery_stream_fails_the_batch_at_once_for_lambda_to_retry(aws: Clients, config: Config) -> None:
    # GIVEN a table whose delivery stream does not exist (moto answers ResourceNotFoundException)
    event = stream_event("nostream", 5)
    firehose = CountingFirehose(aws.firehose)
    fwd, sleeps = timed_forwarder(aws, config, firehose)
    # WHEN the forwarder gets a batch with 300 s of invocation time left
    response = forwarder.handler(event, LambdaContext(300), fwd)
    # THEN it gives the batch back to Lambda after one call, without waiting out its time
    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["dynamodb"]["SequenceNumber"]}]}
    assert firehose.calls == 1 and sleeps == []


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ResourceNotFoundException", 400),
        ("AccessDeniedException", 400),
        ("AccessDenied", 403),
        ("InvalidArgumentException", 400),
        ("ValidationException", 400),
        ("InvalidKMSResourceException", 400),
    ],
)
def test_errors_waiting_cannot_fix_end_the_retries_at_once(
    aws: Clients, config: Config, code: str, status: int
) -> None:
    # GIVEN 1,200 records (three PutRecordBatch calls' worth) whose second call fails for good
    event = stream_event("orders", 1200)
    firehose = CountingFirehose(fail=lambda n: client_error(code, status) if n >= 2 else None)
    fwd, sleeps = timed_forwarder(aws, config, firehose)
    response = forwarder.handler(event, LambdaContext(300), fwd)
    # THEN no retry, no third call, and Lambda resumes at the first record of the failed call
    assert firehose.calls == 2 and sleeps == []
    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][500]["dynamodb"]["SequenceNumber"]}]}


@pytest.mark.parametrize(
    "error",
    [
        client_error("ServiceUnavailableException", 503),
        client_error("ThrottlingException", 400),
        client_error("InternalFailure", 500),
        client_error("SomethingNew", 502),
        EndpointConnectionError(endpoint_url="https://firehose.us-east-1.amazonaws.com"),
    ],
    ids=["unavailable", "throttled", "internal", "5xx", "network"],
)
def test_throttling_and_service_errors_are_retried_with_backoff(aws: Clients, config: Config, error: Exception) -> None:
    # GIVEN a Firehose that fails the first five calls with a transient error
    event = stream_event("orders", 300)
    firehose = CountingFirehose(fail=lambda n: error if n <= 5 else None)
    fwd, sleeps = timed_forwarder(aws, config, firehose)
    # THEN the forwarder backs off and retries until the batch is delivered in this invocation
    assert forwarder.handler(event, LambdaContext(300), fwd) == {"batchItemFailures": []}
    assert firehose.calls == 6 and len(sleeps) == 5


def test_long_table_name_routes_to_the_hashed_delivery_stream(aws: Clients, config: Config) -> None:
    table = "a" * 80
    delivery_stream(aws, config, table)
    event = stream_event(table, 10)
    assert forwarder.handler(event, None, make_forwarder(aws, config)) == {"batchItemFailures": []}
    assert len(s3_records(aws, f"backups/{table}/")) == 10
