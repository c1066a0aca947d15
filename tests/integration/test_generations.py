"""A restore reads one generation: its newest base and the changes since (docs/design.md section 4)."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable
from pathlib import Path

from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.config import Config
from dynamo_continuous_backup.core.naming import stream_label
from dynamo_continuous_backup.core.timeline import capture_end, iso, iso_up
from dynamo_continuous_backup.local import LocalRuntime
from dynamo_continuous_backup.provisioning.provisioner import Provisioner
from dynamo_continuous_backup.restore.backups import BackupStore
from dynamo_continuous_backup.restore.restore import RestoreOptions, Restorer

from ..helpers import BUCKET, cli


def put(aws: Clients, table: str, *names: str) -> None:
    for name in names:
        aws.dynamodb.put_item(TableName=table, Item={"pk": {"S": name}, "v": {"S": name.upper()}})


def names(aws: Clients, table: str) -> set[str]:
    return {i["pk"]["S"] for p in aws.dynamodb.get_paginator("scan").paginate(TableName=table) for i in p["Items"]}


def next_second() -> None:
    time.sleep(1.05 - (time.time() % 1))  # change times have one-second resolution


def test_a_recreated_table_restores_only_its_own_items(
    deployed: tuple[Config, LocalRuntime], aws: Clients, make_table: Callable[..., str], tmp_path: Path
) -> None:
    config, runtime = deployed
    # GIVEN a protected table with three items, deleted, then recreated under its name with two others
    make_table("gen")
    runtime.settle()
    put(aws, "gen", "a1", "a2", "a3")
    runtime.settle()
    next_second()
    first = time.time()
    next_second()
    aws.dynamodb.delete_table(TableName="gen")
    runtime.settle()
    make_table("gen")
    runtime.settle()
    put(aws, "gen", "b1", "b2")
    runtime.settle()
    store = BackupStore(aws, config, tmp_path)
    # WHEN its latest state is restored
    latest = Restorer(aws, store).restore("gen", "gen-now", RestoreOptions())
    # THEN it holds the new incarnation's items only: DeleteTable wrote no REMOVE for the old ones
    assert latest.verified and names(aws, "gen-now") == {"b1", "b2"}
    # AND a time in the first incarnation gives that incarnation's items
    then = Restorer(aws, store).restore("gen", "gen-then", RestoreOptions(at=str(first)))
    assert then.verified and names(aws, "gen-then") == {"a1", "a2", "a3"}
    assert len(store.timeline("gen").generations) == 2


def test_a_change_log_older_than_the_base_is_neither_read_nor_restored(
    deployed: tuple[Config, LocalRuntime], aws: Clients, make_table: Callable[..., str], tmp_path: Path
) -> None:
    config, runtime = deployed
    # GIVEN a protected table (its base taken) and, beside its changes, a year-old change object
    # of the same stream (as a year of history superseded by a newer base would leave)
    make_table("old")
    runtime.settle()
    put(aws, "old", "a1")
    runtime.settle()
    label = stream_label(aws.dynamodb.describe_table(TableName="old")["Table"]["LatestStreamArn"])
    year_ago = time.time() - 365 * 86400
    ghost = {
        "Keys": {"pk": {"S": "ghost"}},
        "NewImage": {"pk": {"S": "ghost"}},
        "SequenceNumber": "1" * 40,  # newer than any real one: it would win if it were read
        "eventName": "INSERT",
        "ApproximateCreationDateTime": year_ago,
        "streamLabel": label,
        "eventID": "ghost",
    }
    hour = time.strftime("%Y/%m/%d/%H", time.gmtime(year_ago))
    body = gzip.compress(json.dumps(ghost).encode() + b"\n")
    aws.s3.put_object(Bucket=BUCKET, Key=f"backups/old/{hour}/year-old", Body=body)
    # WHEN the latest state is restored
    store = BackupStore(aws, config, tmp_path)
    result = Restorer(aws, store).restore("old", "old-r", RestoreOptions())
    # THEN the year-old object was never downloaded, and its item is not in the table
    assert result.verified and names(aws, "old-r") == {"a1"}
    assert not [p for p in tmp_path.rglob("*") if hour in p.as_posix()]
    assert 0 < store.fetched_bytes < 10_000


def test_writes_while_the_stream_was_off_are_a_reported_gap_and_both_sides_restore_exactly(
    deployed: tuple[Config, LocalRuntime], aws: Clients, make_table: Callable[..., str], tmp_path: Path
) -> None:
    config, runtime = deployed
    # GIVEN a protected table with two items
    make_table("gap")
    runtime.settle()
    put(aws, "gap", "a1", "a2")
    runtime.settle()
    next_second()
    before = time.time()
    next_second()
    # WHEN its stream is turned off, items are written while it is off, and the ensure function
    # gets the UpdateTable call's event (its eventTime: the moment capture stopped)
    aws.dynamodb.update_table(TableName="gap", StreamSpecification={"StreamEnabled": False})
    off = time.time()
    next_second()
    put(aws, "gap", "g1", "g2")
    Provisioner(aws, config).ensure("gap", at=off)
    runtime.settle()
    put(aws, "gap", "b1")
    runtime.settle()
    store = BackupStore(aws, config, tmp_path)
    # THEN the timeline shows two restorable spans with the gap between them
    (first, first_end), (second, second_end) = store.timeline("gap").restorable()
    # (a generation ends after the whole second the call was in: core/timeline.py's one end rule)
    assert first < before < first_end == capture_end(off) and second > off and second_end is None
    # AND a time before the gap restores exactly what was there
    Restorer(aws, store).restore("gap", "gap-before", RestoreOptions(at=str(before)))
    assert names(aws, "gap-before") == {"a1", "a2"}
    # AND a time inside the gap is refused, naming the restorable times around it
    path = str(gap_config(tmp_path))
    inside = (capture_end(off) + second) / 2  # strictly between the two spans
    code, _, err = cli("restore", "gap", "--to", "gap-x", "--config", path, "--at", str(inside))
    assert code == 2 and "restorable times before it end at" in err and err.count("\n") == 1, err
    # AND the latest state has every item, those written while capture was off included (the new base)
    latest = Restorer(aws, store).restore("gap", "gap-now", RestoreOptions())
    assert names(aws, "gap-now") == {"a1", "a2", "g1", "g2", "b1"}
    assert any("1 unrestorable stretch" in note for note in latest.notes)
    # AND status names the stretch
    code, out, _ = cli("status", "--config", path, "--json")
    [row] = [r for r in json.loads(out) if r["table"] == "gap"]
    assert (
        len(row["gaps"]) == 1
        and row["gaps"][0][0] == iso(capture_end(off))
        and row["restorable_since"] == iso_up(second)
    )


def gap_config(tmp_path: Path) -> Path:
    path = tmp_path / "gap-config.json"
    path.write_text(json.dumps({"firehoseDeliveryBucket": BUCKET, "firehoseDeliveryPrefix": "backups"}))
    return path
