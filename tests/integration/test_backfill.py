"""Backfill on moto: throttling, kill and resume, the protection guard."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.config import Config
from dynamo_continuous_backup.core.errors import NotProtectableError
from dynamo_continuous_backup.provisioning.provisioner import Provisioner
from dynamo_continuous_backup.provisioning.status import require_protected
from dynamo_continuous_backup.snapshot.backfill import Backfill

from ..fakes import FaultyDynamo, Killed
from ..helpers import BUCKET, run_with_id, s3_records


@pytest.fixture
def protected(aws: Clients, config: Config, make_table: Callable[..., str]) -> str:
    make_table("orders")
    for i in range(300):
        aws.dynamodb.put_item(
            TableName="orders", Item={"pk": {"S": f"k{i:04d}"}, "b": {"B": bytes([i % 256])}, "n": {"N": str(i)}}
        )
    Provisioner(aws, config.replace(snapshot_on_enable=False)).ensure("orders")
    return "orders"


def snapshot_keys(aws: Clients, run_id: str) -> list[str]:
    return [r["Keys"]["pk"]["S"] for r in s3_records(aws, f"backups/@snapshots/orders/{run_id}/segment-")]


def test_backfill_under_half_throttling_misses_nothing(aws: Clients, config: Config, protected: str) -> None:
    faulty = FaultyDynamo(aws.dynamodb, throttle=0.5)
    result = Backfill(aws, config, protected, segments=4, sleep=lambda s: None, dynamodb=faulty, page_limit=20).run()
    assert faulty.throttled > 5
    keys = snapshot_keys(aws, result.run_id)
    assert sorted(keys) == [f"k{i:04d}" for i in range(300)] and result.items == 300
    manifest = json.loads(
        aws.s3.get_object(Bucket=BUCKET, Key=f"backups/@snapshots/orders/{result.run_id}/manifest.json")["Body"].read()
    )
    assert manifest["items"] == 300 and manifest["segments"] == 4 and manifest["endTime"] >= manifest["startTime"]
    record = s3_records(aws, f"backups/@snapshots/orders/{result.run_id}/segment-")[0]
    assert record["eventName"] == "SNAPSHOT" and record["snapshot"] is True and "B" in record["NewImage"]["b"]


def test_killed_backfill_resumes_without_rescanning_finished_work(aws: Clients, config: Config, protected: str) -> None:
    # GIVEN a run killed while segment 2 was part-way through (after 3 pages written as parts)
    faulty = FaultyDynamo(aws.dynamodb, kill_segment=2, kill_after=3)
    backfill = Backfill(aws, config, protected, segments=4, dynamodb=faulty, part_bytes=1, page_limit=10)
    with pytest.raises(Killed):
        run_with_id(backfill, "run-1")
    assert (
        aws.s3.list_objects_v2(Bucket=BUCKET, Prefix="backups/@snapshots/orders/run-1/manifest.json")["KeyCount"] == 0
    )
    # WHEN it is resumed
    again = FaultyDynamo(aws.dynamodb)
    result = Backfill(aws, config, protected, segments=4, dynamodb=again, part_bytes=1, page_limit=10).run("run-1")
    # THEN finished segments are not scanned again, segment 2 continues after its last part,
    # and every item is in the snapshot exactly once
    assert set(again.scans) == {2} and result.resumed_segments == 3
    keys = snapshot_keys(aws, "run-1")
    assert sorted(keys) == [f"k{i:04d}" for i in range(300)]


def test_backfill_refuses_an_unprotected_table(aws: Clients, config: Config, make_table: Callable[..., str]) -> None:
    make_table("bare")
    with pytest.raises(NotProtectableError, match="provision it first"):
        require_protected(aws, config, "bare")


def test_ensure_snapshots_what_a_table_held_before_capture(
    aws: Clients, config: Config, make_table: Callable[..., str]
) -> None:
    make_table("early")
    aws.dynamodb.put_item(TableName="early", Item={"pk": {"S": "written-before-the-stream"}})
    result = Provisioner(aws, config).ensure("early")
    assert "snapshot" in result.actions
    assert [r["Keys"]["pk"]["S"] for r in s3_records(aws, "backups/@snapshots/early/") if "Keys" in r] == [
        "written-before-the-stream"
    ]
