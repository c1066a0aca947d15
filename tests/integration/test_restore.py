"""Restore end to end on the local runtime: the restored table equals the source at T."""

from __future__ import annotations

import gzip
import io
import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dynamo_continuous_backup.cli.main import UI, main
from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.config import Config
from dynamo_continuous_backup.core.errors import BackupError, UserInputError
from dynamo_continuous_backup.local import LocalRuntime
from dynamo_continuous_backup.restore.backups import BackupStore
from dynamo_continuous_backup.restore.restore import RestoreOptions, Restorer

from ..fakes import StormyDynamo, clients_with, sample_lines
from ..helpers import BUCKET, contents


def create_orders(aws: Clients) -> None:
    aws.dynamodb.create_table(
        TableName="orders",
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 7, "WriteCapacityUnits": 3},
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
            {"AttributeName": "status", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-status",
                "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
                "ProvisionedThroughput": {"ReadCapacityUnits": 2, "WriteCapacityUnits": 2},
            }
        ],
    )


def churn(aws: Clients, rng: random.Random, n: int) -> None:
    for i in range(n):
        key = {"pk": {"S": f"p{rng.randrange(15)}"}, "sk": {"N": str(rng.randrange(3))}}
        if rng.random() < 0.75:
            item = {
                **key,
                "status": {"S": rng.choice(["new", "paid", "shipped"])},
                "n": {"N": str(i)},
                "tags": {"SS": ["a", f"t{i}"]},
                "bin": {"B": bytes([i % 256, 0, 255])},
                "doc": {"M": {"l": {"L": [{"N": "1"}, {"S": "ü"}]}, "nul": {"NULL": True}}},
            }
            aws.dynamodb.put_item(TableName="orders", Item=item)
        else:
            aws.dynamodb.delete_item(TableName="orders", Key=key)


def next_second() -> None:
    time.sleep(1.05 - (time.time() % 1))  # change times have one-second resolution


def restore(aws: Clients, config: Config, to: str, **opts: Any) -> Any:
    return Restorer(aws, BackupStore(aws, config, Path(opts.pop("cache")))).restore(
        "orders", to, RestoreOptions(**opts)
    )


@pytest.fixture
def history(deployed: tuple[Config, LocalRuntime], aws: Clients) -> tuple[Config, list[tuple[float, dict[str, Any]]]]:
    """A protected table with three phases of writes; the source captured after each."""
    config, runtime = deployed
    create_orders(aws)
    runtime.settle()
    rng = random.Random(11)
    captured = []
    for _ in range(3):
        next_second()
        churn(aws, rng, 60)
        runtime.settle()
        captured.append((time.time(), contents(aws, "orders")))  # the next phase starts in a later second
    return config, captured


def test_restore_at_three_times_equals_the_source_then(history: Any, aws: Clients, tmp_path: Path) -> None:
    config, captured = history
    for n, (at, expected) in enumerate(captured):
        result = restore(aws, config, f"orders-at-{n}", at=str(at), cache=tmp_path)
        assert result.verified and result.items == len(expected)
        assert contents(aws, f"orders-at-{n}") == expected
    assert len({json.dumps(c, sort_keys=True) for _, c in captured}) == 3  # the three states differ


def test_restore_after_the_source_was_deleted_recreates_it(
    history: Any, aws: Clients, deployed: Any, tmp_path: Path
) -> None:
    config, captured = history
    aws.dynamodb.delete_table(TableName="orders")
    deployed[1].settle()
    result = restore(aws, config, "orders", cache=tmp_path)  # the same name again
    assert result.verified and contents(aws, "orders") == captured[-1][1]
    table = aws.dynamodb.describe_table(TableName="orders")["Table"]
    assert table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED") == "PROVISIONED"
    assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 7
    assert [g["IndexName"] for g in table["GlobalSecondaryIndexes"]] == ["by-status"]


def test_existing_targets_and_times_before_the_earliest_are_refused(history: Any, aws: Clients, tmp_path: Path) -> None:
    config, captured = history
    with pytest.raises(UserInputError, match="exists and is not empty"):
        restore(aws, config, "orders", cache=tmp_path)
    with pytest.raises(UserInputError, match="before the earliest restorable time"):
        restore(aws, config, "orders-old", at="2001-01-01T00:00:00Z", cache=tmp_path)


def test_into_existing_dry_run_shows_the_diff_then_applies_it(history: Any, aws: Clients, tmp_path: Path) -> None:
    config, captured = history
    at, expected = captured[0]
    dry = restore(aws, config, "orders", at=str(at), into_existing=True, dry_run=True, cache=tmp_path)
    assert dry.puts + dry.deletes > 0 and contents(aws, "orders") == captured[-1][1]  # nothing changed
    done = restore(aws, config, "orders", at=str(at), into_existing=True, cache=tmp_path)
    assert (done.puts, done.deletes) == (dry.puts, dry.deletes) and done.verified
    assert contents(aws, "orders") == expected


def test_one_key_restores_one_item_and_touches_nothing_else(history: Any, aws: Clients, tmp_path: Path) -> None:
    config, captured = history
    at, expected = captured[0]
    key_text, item = next(iter(expected.items()))
    before = contents(aws, "orders")
    aws.dynamodb.delete_item(TableName="orders", Key={"pk": {"S": item["pk"]["S"]}, "sk": {"N": item["sk"]["N"]}})
    result = restore(
        aws, config, "orders", at=str(at), into_existing=True, cache=tmp_path, keys={"pk": item["pk"], "sk": item["sk"]}
    )
    after = contents(aws, "orders")
    assert result.verified and after[key_text] == item
    assert {k: v for k, v in after.items() if k != key_text} == {k: v for k, v in before.items() if k != key_text}


def test_unprocessed_items_storm_still_writes_everything(history: Any, aws: Clients, tmp_path: Path) -> None:
    config, captured = history
    stormy = StormyDynamo(aws.dynamodb)
    target = clients_with(aws, dynamodb=stormy)
    result = Restorer(target, BackupStore(aws, config, tmp_path), sleep=lambda s: None).restore(
        "orders", "orders-storm", RestoreOptions()
    )
    assert stormy.unprocessed > 20 and result.verified
    assert contents(aws, "orders-storm") == captured[-1][1]


def test_corrupt_object_fails_unless_allowed(history: Any, aws: Clients, tmp_path: Path) -> None:
    config, captured = history
    good = gzip.compress(b'{"Keys": {"pk": {"S": "zz"}, "sk": {"N": "1"}}}\n' * 50)
    hour = time.strftime("%Y/%m/%d/%H", time.gmtime())  # among the hours a restore to now reads
    aws.s3.put_object(Bucket=BUCKET, Key=f"backups/orders/{hour}/broken", Body=good[: len(good) // 2])
    with pytest.raises(BackupError, match="corrupt backup object.*broken"):
        restore(aws, config, "orders-c", cache=tmp_path)
    result = restore(aws, config, "orders-c", cache=tmp_path, allow_corrupt=True)
    assert result.verified and any("broken" in c for c in result.corrupt)
    assert contents(aws, "orders-c") == captured[-1][1]


def test_via_import_and_into_another_region(history: Any, aws: Clients, tmp_path: Path) -> None:
    config, captured = history
    result = restore(aws, config, "orders-imported", via_import=True, cache=tmp_path)
    assert result.verified and contents(aws, "orders-imported") == captured[-1][1]
    west = Clients("us-west-2")
    moved = Restorer(west, BackupStore(aws, config, tmp_path)).restore("orders", "orders-west", RestoreOptions())
    assert moved.verified and contents(west, "orders-west") == captured[-1][1]


def test_restore_reads_the_original_tools_files(aws: Clients, config: Config, tmp_path: Path) -> None:
    # GIVEN two files the original tool wrote (gzip and plain, no snapshot, no streamLabel)
    lines = sample_lines("original-tool-changes.ndjson")
    body = "\n".join(json.dumps(x) for x in lines).encode()
    aws.s3.put_object(Bucket=BUCKET, Key="backups/legacy/2019/01/01/00/a", Body=gzip.compress(body))
    aws.s3.put_object(Bucket=BUCKET, Key="backups/legacy/2019/01/01/01/b", Body=body)  # plain too
    store = BackupStore(aws, config, tmp_path)
    # THEN a restore needs --from-start (no base), and only to the latest state
    with pytest.raises(UserInputError, match="no complete snapshot"):
        Restorer(aws, store).restore("legacy", "legacy-r", RestoreOptions())
    with pytest.raises(UserInputError, match="only a restore to the latest state"):
        Restorer(aws, store).restore("legacy", "legacy-r", RestoreOptions(at="2025-01-01", from_start=True))
    # WHEN restored from the start into an existing empty table, THEN it holds the latest state
    aws.dynamodb.create_table(
        TableName="legacy-r",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    result = Restorer(aws, store).restore("legacy", "legacy-r", RestoreOptions(from_start=True))
    assert result.verified and result.items == 2
    item = aws.dynamodb.get_item(TableName="legacy-r", Key={"pk": {"S": "a"}})["Item"]
    assert item["v"] == {"N": "2"}


def test_export_snapshot_is_used_by_restore(
    deployed: tuple[Config, LocalRuntime], aws: Clients, tmp_path: Path, make_table: Callable[..., str]
) -> None:
    # GIVEN a protected table with point-in-time recovery on
    config, runtime = deployed
    make_table("pitr", key="pk", key_type="S")
    for i in range(10):
        aws.dynamodb.put_item(TableName="pitr", Item={"pk": {"S": f"k{i}"}})
    aws.dynamodb.update_continuous_backups(
        TableName="pitr", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    runtime.settle()
    # WHEN its base is taken by a PITR export
    cfg = tmp_path / "c.json"
    cfg.write_text(config.to_json())
    out = io.StringIO()
    assert main(["backfill", "pitr", "--config", str(cfg), "--export"], UI(out, out)) == 0, out.getvalue()
    # THEN restore finds the export snapshot and restores from it
    store = BackupStore(aws, config, tmp_path)
    kinds = [s.kind for s in store.sync("pitr").snapshots]
    assert "export" in kinds
    result = Restorer(aws, store).restore("pitr", "pitr-r", RestoreOptions())
    assert result.verified and result.items == 10


def imports(aws: Clients) -> list[str]:
    return [o["Key"] for o in aws.s3.list_objects_v2(Bucket=BUCKET, Prefix="backups/@imports/").get("Contents", [])]


def test_via_import_refuses_local_indexes_before_uploading(
    deployed: tuple[Config, LocalRuntime], aws: Clients, tmp_path: Path
) -> None:
    # GIVEN a protected table with a local secondary index, holding items
    config, runtime = deployed
    aws.dynamodb.create_table(
        TableName="threads",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "at")],
        LocalSecondaryIndexes=[
            {
                "IndexName": "by-time",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "at", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
    )
    runtime.settle()
    for i in range(5):
        aws.dynamodb.put_item(TableName="threads", Item={"pk": {"S": "t"}, "sk": {"S": str(i)}, "at": {"S": "x"}})
    runtime.settle()
    store = BackupStore(aws, config, tmp_path)
    # ImportTable cannot create an LSI: refused with the way out, before any data is uploaded
    with pytest.raises(UserInputError, match=r"local secondary indexes \(by-time\).*restore without --via-import"):
        Restorer(aws, store).restore("threads", "threads-r", RestoreOptions(via_import=True))
    assert imports(aws) == [] and "threads-r" not in aws.dynamodb.list_tables()["TableNames"]
    # the normal path recreates the LSI
    assert Restorer(aws, store).restore("threads", "threads-r", RestoreOptions()).verified
    desc = aws.dynamodb.describe_table(TableName="threads-r")["Table"]
    assert [x["IndexName"] for x in desc["LocalSecondaryIndexes"]] == ["by-time"]


def test_via_import_reapplies_ttl(
    deployed: tuple[Config, LocalRuntime], aws: Clients, tmp_path: Path, make_table: Callable[..., str]
) -> None:
    # GIVEN a protected table with TTL on `expires`
    config, runtime = deployed
    make_table("sessions")
    aws.dynamodb.update_time_to_live(
        TableName="sessions", TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"}
    )
    runtime.settle()
    for i in range(5):
        aws.dynamodb.put_item(TableName="sessions", Item={"pk": {"S": f"s{i}"}, "expires": {"N": "4102444800"}})
    runtime.settle()
    # WHEN it is restored via ImportTable, THEN the copy has the items and TTL on the same attribute
    result = Restorer(aws, BackupStore(aws, config, tmp_path)).restore(
        "sessions", "sessions-r", RestoreOptions(via_import=True)
    )
    assert result.verified and result.items == 5 and imports(aws)
    ttl = aws.dynamodb.describe_time_to_live(TableName="sessions-r")["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires")
    assert "TTL re-applied on attribute expires" in result.notes
