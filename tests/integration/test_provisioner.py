"""Provisioner against moto: each stream situation, idempotence, concurrency, removal."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import pytest

from dynamo_continuous_backup.core import naming
from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.config import Config
from dynamo_continuous_backup.provisioning.destination import processing_differs, tenant_processing
from dynamo_continuous_backup.provisioning.provisioner import Provisioner

from ..helpers import BUCKET


def mappings(aws: Clients, config: Config) -> list[dict]:
    return aws.lambda_.list_event_source_mappings(FunctionName=config.forwarder_function_name)["EventSourceMappings"]


def test_ensure_protects_a_fresh_table(aws: Clients, config: Config, make_table: Callable[..., str]) -> None:
    make_table("orders", range_key=True)
    # WHEN a fresh table is ensured
    result = Provisioner(aws, config).ensure("orders")
    assert result.status == "protected"
    assert set(result.actions) >= {"enable_stream", "create_delivery_stream", "create_mapping", "save_schema"}
    # THEN it has a NEW_AND_OLD_IMAGES stream, our delivery stream, one mapping as Lambda needs it, and a saved schema
    table = aws.dynamodb.describe_table(TableName="orders")["Table"]
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    dest = aws.firehose.describe_delivery_stream(DeliveryStreamName="orders")["DeliveryStreamDescription"][
        "Destinations"
    ][0]["ExtendedS3DestinationDescription"]
    assert dest["Prefix"] == "backups/orders/" and dest["CompressionFormat"] == "GZIP"
    assert dest["BufferingHints"] == {"SizeInMBs": 64, "IntervalInSeconds": 0}
    [m] = mappings(aws, config)
    assert m["EventSourceArn"] == table["LatestStreamArn"] and m["StartingPosition"] == "TRIM_HORIZON"
    assert m["FunctionResponseTypes"] == ["ReportBatchItemFailures"] and m["BisectBatchOnFunctionError"] is True
    assert m["BatchSize"] == 1000 and m["MaximumRetryAttempts"] == -1
    schema = json.loads(aws.s3.get_object(Bucket=BUCKET, Key="backups/@schemas/orders/schema.json")["Body"].read())
    assert [k["AttributeName"] for k in schema["KeySchema"]] == ["pk", "sk"]


def test_ensure_twice_changes_nothing(aws: Clients, config: Config, make_table: Callable[..., str]) -> None:
    make_table("orders")
    p = Provisioner(aws, config)
    p.ensure("orders")
    again = p.ensure("orders")
    assert again.status == "protected" and again.actions == ()
    assert len(mappings(aws, config)) == 1


def test_the_batching_window_is_deployed_and_follows_the_config(
    aws: Clients, config: Config, make_table: Callable[..., str]
) -> None:
    make_table("orders")
    # WHEN a table is ensured with a 30 s window, THEN its mapping has it
    assert Provisioner(aws, config.replace(streams_batching_window_seconds=30)).ensure("orders").status == "protected"
    [m] = mappings(aws, config)
    assert m["MaximumBatchingWindowInSeconds"] == 30 and m["BatchSize"] == 1000
    # WHEN the config changes, THEN the next ensure updates that mapping (no new one), once
    changed = Provisioner(aws, config.replace(streams_batching_window_seconds=5, streams_max_records_batch=200))
    assert changed.ensure("orders").actions == ("update_mapping",)
    [after] = mappings(aws, config)
    assert after["UUID"] == m["UUID"]
    assert after["MaximumBatchingWindowInSeconds"] == 5 and after["BatchSize"] == 200
    assert changed.ensure("orders").actions == ()


def test_concurrent_ensures_leave_one_stream_and_one_mapping(
    aws: Clients, config: Config, make_table: Callable[..., str]
) -> None:
    make_table("orders")
    # WHEN six ensures of one table start at the same moment
    results = []
    barrier = threading.Barrier(6)

    def run() -> None:
        barrier.wait()
        results.append(Provisioner(aws, config).ensure("orders"))

    threads = [threading.Thread(target=run) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # THEN all report it protected, with one delivery stream and one mapping
    assert [r.status for r in results] == ["protected"] * 6, results
    assert aws.firehose.list_delivery_streams()["DeliveryStreamNames"] == ["orders"]
    assert len(mappings(aws, config)) == 1


def test_existing_new_and_old_images_stream_is_accepted(
    aws: Clients, config: Config, make_table: Callable[..., str]
) -> None:
    make_table("orders", stream="NEW_AND_OLD_IMAGES")
    result = Provisioner(aws, config).ensure("orders")
    assert result.status == "protected" and "enable_stream" not in result.actions


@pytest.mark.parametrize("view", ["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE"])
def test_other_consumers_stream_is_left_alone(
    aws: Clients, config: Config, make_table: Callable[..., str], view: str
) -> None:
    make_table("orders", stream=view)
    result = Provisioner(aws, config).ensure("orders")
    assert result.status == "not_protectable" and view in result.reason
    assert aws.dynamodb.describe_table(TableName="orders")["Table"]["StreamSpecification"]["StreamViewType"] == view
    assert aws.firehose.list_delivery_streams()["DeliveryStreamNames"] == [] and mappings(aws, config) == []


def test_foreign_delivery_stream_of_the_same_name_is_refused(
    aws: Clients, config: Config, make_table: Callable[..., str]
) -> None:
    make_table("orders")
    role = aws.iam.get_role(RoleName="dynamo-backup-firehose")["Role"]["Arn"]
    aws.firehose.create_delivery_stream(
        DeliveryStreamName="orders",
        ExtendedS3DestinationConfiguration={"RoleARN": role, "BucketARN": "arn:aws:s3:::someone-else"},
    )
    result = Provisioner(aws, config).ensure("orders")
    assert result.status == "not_protectable" and "not ours" in result.reason
    removed = Provisioner(aws, config).remove("orders", wait=True)
    assert removed.status == "removed"
    assert aws.firehose.list_delivery_streams()["DeliveryStreamNames"] == ["orders"]  # still there


def test_long_names_with_a_shared_prefix_get_their_own_streams(
    aws: Clients, config: Config, make_table: Callable[..., str]
) -> None:
    a, b = make_table("x" * 80 + "-a"), make_table("x" * 80 + "-b")
    p = Provisioner(aws, config)
    assert p.ensure(a).status == p.ensure(b).status == "protected"
    names = sorted(aws.firehose.list_delivery_streams()["DeliveryStreamNames"])
    assert names == sorted([naming.delivery_stream_name(a), naming.delivery_stream_name(b)])
    tags = aws.firehose.list_tags_for_delivery_stream(DeliveryStreamName=naming.delivery_stream_name(a))["Tags"]
    assert naming.owned_table(tags) == a


def test_missing_forwarder_is_a_clear_error(aws: Clients, config: Config, make_table: Callable[..., str]) -> None:
    make_table("orders")
    aws.lambda_.delete_function(FunctionName=config.forwarder_function_name)
    from dynamo_continuous_backup.core.errors import NotFoundError

    with pytest.raises(NotFoundError, match="run deploy.py"):
        Provisioner(aws, config).ensure("orders")


def test_remove_keeps_the_mapping_until_the_stream_is_consumed_or_expired(
    aws: Clients, config: Config, make_table: Callable[..., str]
) -> None:
    # GIVEN a protected table with changes nobody forwarded (the config's forwarder is a no-op)
    make_table("orders")
    p = Provisioner(aws, config.replace(drain_seconds=30))
    p.ensure("orders")
    for i in range(3):
        aws.dynamodb.put_item(TableName="orders", Item={"pk": {"S": f"k{i}"}})
    aws.s3.put_object(Bucket=BUCKET, Key="backups/orders/2026/01/01/00/data", Body=b"{}\n")
    now = [time.time()]
    p.clock = lambda: now[0]
    # WHEN it is removed, THEN nothing goes while its records are not in S3, however long the drain time
    first = p.remove("orders")
    assert first.status == "draining" and len(mappings(aws, config)) == 1
    now[0] += 3600
    later = p.remove("orders")
    assert later.status == "draining" and "3 stream records not in S3" in later.reason
    assert len(mappings(aws, config)) == 1
    # and only once the stream's 24-hour retention has expired them do the mapping and delivery stream go
    now[0] += 23 * 3600 + 1
    assert p.remove("orders").status == "removed" and mappings(aws, config) == []
    assert aws.firehose.list_delivery_streams()["DeliveryStreamNames"] == []
    assert aws.s3.list_objects_v2(Bucket=BUCKET, Prefix="backups/orders/")["KeyCount"] == 1
    assert p.remove("orders").status == "removed"  # idempotent


def test_reensure_cancels_a_pending_removal(aws: Clients, config: Config, make_table: Callable[..., str]) -> None:
    make_table("orders")
    p = Provisioner(aws, config.replace(drain_seconds=600))
    p.ensure("orders")
    assert p.remove("orders").status == "draining"
    assert "cancel_draining" in p.ensure("orders").actions
    assert p.observe("orders").draining_since is None


def test_ensure_updates_the_processors_of_our_tenant_stream_once(
    aws: Clients, config: Config, make_table: Callable[..., str]
) -> None:
    # GIVEN a tenant-layout table whose delivery stream was made before aggregation (no de-aggregation)
    tenant = config.replace(tenant_attribute="tenant")
    make_table("orders")
    p = Provisioner(aws, tenant)
    p.ensure("orders")
    wanted = tenant_processing("tenant")
    old = {"Enabled": True, "Processors": wanted["Processors"][1:2]}

    def described() -> dict:
        desc = aws.firehose.describe_delivery_stream(DeliveryStreamName="orders")["DeliveryStreamDescription"]
        return desc  # type: ignore[no-any-return]

    desc = described()
    aws.firehose.update_destination(
        DeliveryStreamName="orders",
        CurrentDeliveryStreamVersionId=desc["VersionId"],
        DestinationId=desc["Destinations"][0]["DestinationId"],
        ExtendedS3DestinationUpdate={"ProcessingConfiguration": old},
    )
    # WHEN ensure runs again, THEN it sets the processors the config wants, and the next ensure changes nothing
    assert "update_delivery_processing" in p.ensure("orders").actions
    dest = described()["Destinations"][0]["ExtendedS3DestinationDescription"]
    assert not processing_differs(dest["ProcessingConfiguration"], wanted)
    assert p.ensure("orders").actions == ()
