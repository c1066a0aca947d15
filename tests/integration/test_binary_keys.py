"""Tables keyed by binary (B) values, end to end on the embedded default: capture, backfill, restore."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.config import Config
from dynamo_continuous_backup.local import LocalRuntime
from dynamo_continuous_backup.provisioning.provisioner import Provisioner
from dynamo_continuous_backup.provisioning.status import fleet_status
from dynamo_continuous_backup.restore.backups import BackupStore
from dynamo_continuous_backup.restore.restore import RestoreOptions, Restorer
from dynamo_continuous_backup.snapshot.backfill import Backfill

from ..fakes import FaultyDynamo, Killed
from ..helpers import contents, run_with_id, s3_records

# Keys that are not UTF-8, hold NUL bytes, or are themselves valid base64 text: a key
# encoded once too often or too few times decodes to something else.
KEYS = [bytes([i, 0, 255 - i]) + b"\x80" * (i % 3) for i in range(24)] + [b"QUJD", b"a", b"\x00"]


def create(aws: Clients, name: str, range_key: bool) -> None:
    schema = [{"AttributeName": "h", "KeyType": "HASH"}]
    attrs = [{"AttributeName": "h", "AttributeType": "S" if range_key else "B"}]
    if range_key:
        schema.append({"AttributeName": "r", "KeyType": "RANGE"})
        attrs.append({"AttributeName": "r", "AttributeType": "B"})
    aws.dynamodb.create_table(
        TableName=name, KeySchema=schema, AttributeDefinitions=attrs, BillingMode="PAY_PER_REQUEST"
    )


def key_of(range_key: bool, raw: bytes) -> dict[str, Any]:
    if range_key:
        return {"h": {"S": f"g{raw[0] % 3}"}, "r": {"B": raw}}
    return {"h": {"B": raw}}


@pytest.mark.parametrize("range_key", [False, True], ids=["binary-hash", "binary-range"])
def test_binary_keyed_table_is_captured_backfilled_and_restored(
    deployed: tuple[Config, LocalRuntime], aws: Clients, tmp_path: Path, range_key: bool
) -> None:
    config, runtime = deployed
    table = "blobs"
    key_attr = "r" if range_key else "h"
    # GIVEN a protected table whose key is binary
    create(aws, table, range_key)
    runtime.settle()
    assert {r.table: r for r in fleet_status(aws, config)}[table].protected

    # WHEN items are put, updated and deleted
    for n, raw in enumerate(KEYS):
        item = {**key_of(range_key, raw), "n": {"N": str(n)}, "bin": {"BS": [raw + b"!", b"\xfe"]}}
        aws.dynamodb.put_item(TableName=table, Item=item)
    for raw in KEYS[::3]:
        aws.dynamodb.update_item(
            TableName=table,
            Key=key_of(range_key, raw),
            UpdateExpression="SET v = :v",
            ExpressionAttributeValues={":v": {"B": raw[::-1]}},
        )
    for raw in KEYS[1::4]:
        aws.dynamodb.delete_item(TableName=table, Key=key_of(range_key, raw))
    runtime.settle()

    # THEN every change record in S3 carries the key as base64 of the original bytes
    changes = [r for r in s3_records(aws, f"backups/{table}/") if r.get("eventName") != "SNAPSHOT"]
    assert len(changes) == len(KEYS) + len(KEYS[::3]) + len(KEYS[1::4])
    for record in changes:
        raw = base64.b64decode(record["Keys"][key_attr]["B"], validate=True)
        image = record.get("NewImage") or record["OldImage"]
        assert raw in KEYS and image[key_attr]["B"] == record["Keys"][key_attr]["B"]
    removed = {base64.b64decode(r["Keys"][key_attr]["B"]) for r in changes if r["eventName"] == "REMOVE"}
    assert removed == set(KEYS[1::4])

    # AND a segmented backfill snapshots every live item
    live = contents(aws, table, ("h", "r"))
    result = Backfill(aws, config, table, segments=4, part_bytes=1, page_limit=3).run()
    assert result.items == len(live) == len(KEYS) - len(KEYS[1::4])
    snapshot = s3_records(aws, f"backups/@snapshots/{table}/{result.run_id}/segment-")
    assert {base64.b64decode(r["Keys"][key_attr]["B"]) for r in snapshot} == set(KEYS) - set(KEYS[1::4])

    # AND a restore equals the source
    restored = Restorer(aws, BackupStore(aws, config, tmp_path)).restore(table, f"{table}-restored", RestoreOptions())
    assert restored.verified and contents(aws, f"{table}-restored", ("h", "r")) == live


def test_killed_backfill_of_a_binary_keyed_table_resumes_after_its_last_key(aws: Clients, config: Config) -> None:
    # GIVEN a protected binary-keyed table and a backfill killed part-way through segment 1
    create(aws, "blobs", range_key=False)
    for raw in KEYS:
        aws.dynamodb.put_item(TableName="blobs", Item={"h": {"B": raw}, "pad": {"S": "x" * 100}})
    Provisioner(aws, config.replace(snapshot_on_enable=False)).ensure("blobs")
    killed = Backfill(
        aws,
        config,
        "blobs",
        segments=2,
        part_bytes=1,
        page_limit=2,
        dynamodb=FaultyDynamo(aws.dynamodb, kill_segment=1, kill_after=2),
    )
    with pytest.raises(Killed):
        run_with_id(killed, "run-1")
    # WHEN it is resumed, THEN every item is in the snapshot exactly once
    Backfill(aws, config, "blobs", segments=2, part_bytes=1, page_limit=2).run("run-1")
    snapshot = s3_records(aws, "backups/@snapshots/blobs/run-1/segment-")
    assert sorted(base64.b64decode(r["Keys"]["h"]["B"]) for r in snapshot) == sorted(KEYS)
