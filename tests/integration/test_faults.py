"""Fault injection: each case states the fault and what must happen, and asserts it."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dynamo_continuous_backup import forwarder
from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.config import Config
from dynamo_continuous_backup.core.records import loads
from dynamo_continuous_backup.local import LocalRuntime
from dynamo_continuous_backup.provisioning.events import reconcile
from dynamo_continuous_backup.provisioning.optin import OptIn
from dynamo_continuous_backup.provisioning.provisioner import Provisioner
from dynamo_continuous_backup.restore.backups import LocalBackups
from dynamo_continuous_backup.restore.keys import key_text
from dynamo_continuous_backup.restore.statequery import connect, iter_state

from ..fakes import Failing, FakeFirehose, TableVanishes, client_error, clients_with, first, from_call, stream_event
from ..helpers import BUCKET, delivery_stream, make_forwarder, run_like_lambda


def state_from_s3(aws: Clients, table: str, tmp_path: Path) -> dict[str, Any]:
    """The latest state DuckDB computes from what landed in S3 (duplicates included)."""
    files = []
    for page in aws.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"backups/{table}/"):
        for n, obj in enumerate(page.get("Contents", [])):
            path = tmp_path / f"{len(files)}-{n}.ndjson"
            path.write_bytes(aws.s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read())
            files.append(path)
    backups = LocalBackups(table, files, [], {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]})
    return {k: loads(img) for k, img, _ in iter_state(connect(), backups, None)}


def expected_state(event: dict[str, Any]) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for r in event["Records"]:
        k = key_text(r["dynamodb"]["Keys"], ["pk"])
        if r["eventName"] == "REMOVE":
            state.pop(k, None)
        else:
            state[k] = r["dynamodb"]["NewImage"]
    return state


def test_firehose_faults_duplicate_but_restore_collapses(aws: Clients, config: Config, tmp_path: Path) -> None:
    # FAULT: 30% of records fail, then whole calls are throttled. MUST: nothing lost, the
    # retried duplicates land in S3, and the restored state is exactly the stream's.
    delivery_stream(aws, config, "orders")
    event = stream_event("orders", 1500, keys=40)
    flaky = FakeFirehose(
        aws.firehose, record_failure=0.3, fail=first(2, client_error("ServiceUnavailableException", "PutRecordBatch"))
    )
    run_like_lambda(event, make_forwarder(flaky, aws.s3))
    assert len(flaky.accepted) > 1500  # duplicates did land
    assert state_from_s3(aws, "orders", tmp_path) == expected_state(event)


def test_forwarder_crash_mid_batch_is_retried_by_lambda(aws: Clients, config: Config, tmp_path: Path) -> None:
    # FAULT: an exception after two successful PutRecordBatch calls. MUST: Lambda's retry of
    # the whole batch delivers the rest; restore is unaffected by the duplicates.
    delivery_stream(aws, config, "orders")
    event = stream_event("orders", 1500, keys=40, payload=5000)  # ~12 MB: several 4 MiB calls, even aggregated
    crashing = FakeFirehose(aws.firehose, fail=from_call(3, RuntimeError("forwarder crashed mid-batch")))
    with pytest.raises(RuntimeError):
        forwarder.handler(event, None, make_forwarder(crashing, aws.s3))
    assert 0 < len(crashing.accepted) < 1500
    run_like_lambda(event, make_forwarder(aws.firehose, aws.s3))
    assert state_from_s3(aws, "orders", tmp_path) == expected_state(event)


def test_create_then_delete_before_provisioning_finishes_leaves_no_orphans(
    aws: Clients, config: Config, make_table: Callable[..., str]
) -> None:
    # FAULT: DeleteTable lands while ensure is half-way. MUST: a clear end state; whatever was
    # created for the gone table is removed by the next reconcile; nothing else touched.
    make_table("short-lived")
    racing = clients_with(aws, dynamodb=TableVanishes(aws.dynamodb))
    result = Provisioner(racing, config).ensure("short-lived")
    assert result.status == "missing" and "deleted while being provisioned" in result.reason
    provisioner = Provisioner(aws, config, clock=lambda: 10**10)
    for _ in range(2):  # the hourly reconcile, twice: drain, then remove
        reconcile(provisioner, OptIn(), aws)
    assert aws.firehose.list_delivery_streams()["DeliveryStreamNames"] == []
    assert aws.lambda_.list_event_source_mappings()["EventSourceMappings"] == []


@pytest.mark.parametrize("code", ["LimitExceededException", "AccessDeniedException"])
def test_firehose_quota_or_missing_permission_is_a_clear_failure(
    aws: Clients, config: Config, make_table: Callable[..., str], code: str
) -> None:
    # FAULT: the account's Firehose quota is used up / the role lacks a permission. MUST: the
    # table is reported failed with the AWS error named; no mapping points at a missing stream.
    from dynamo_continuous_backup.provisioning.fleet import run_many

    make_table("orders")
    failing = Failing(aws.firehose, "create_delivery_stream", client_error(code, "CreateDeliveryStream"))
    broken = clients_with(aws, firehose=failing)
    [result] = list(run_many(Provisioner(broken, config).ensure, ["orders"]))
    assert result.status == "failed" and code in result.reason
    assert aws.lambda_.list_event_source_mappings()["EventSourceMappings"] == []


def test_big_binary_and_unicode_items_round_trip(
    deployed: tuple[Config, LocalRuntime], aws: Clients, make_table: Callable[..., str], tmp_path: Path
) -> None:
    # FAULT: a ~400 KB item updated (both images in one record, ~800 KB), binary and
    # unicode-heavy values. MUST: captured and restored byte for byte.
    from dynamo_continuous_backup.restore.backups import BackupStore
    from dynamo_continuous_backup.restore.restore import RestoreOptions, Restorer

    config, runtime = deployed
    make_table("blobs")
    runtime.settle()
    rng = random.Random(9)
    big = {"pk": {"S": "big"}, "blob": {"B": rng.randbytes(150_000)}, "text": {"S": "日本語✓é" * 9_000}}
    aws.dynamodb.put_item(TableName="blobs", Item=big)
    aws.dynamodb.put_item(TableName="blobs", Item={**big, "text": {"S": "Ω" * 60_000}})
    aws.dynamodb.put_item(
        TableName="blobs",
        Item={"pk": {"S": "small"}, "bs": {"BS": [b"\x00", b"\xff\xfe"]}, "ss": {"SS": ["🙂", "e\u0301"]}},
    )
    runtime.settle()
    result = Restorer(aws, BackupStore(aws, config, tmp_path)).restore("blobs", "blobs-r", RestoreOptions())
    assert result.verified and result.items == 2
    got = aws.dynamodb.get_item(TableName="blobs-r", Key={"pk": {"S": "big"}})["Item"]
    assert got["blob"]["B"] == big["blob"]["B"] and got["text"]["S"] == "Ω" * 60_000
