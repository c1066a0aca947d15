"""Checkpoints: a new base from the previous base and the changes since, equal to the reference
model at every time after it, and restores after it read only it and the changes since."""

from __future__ import annotations

import gzip
import json
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.config import Config
from dynamo_continuous_backup.core.records import loads
from dynamo_continuous_backup.core.timeline import LATE_SECONDS, MARGIN_SECONDS, iso
from dynamo_continuous_backup.core.timeline_store import read_timeline
from dynamo_continuous_backup.local import LocalRuntime
from dynamo_continuous_backup.provisioning.events import handle
from dynamo_continuous_backup.provisioning.optin import OptIn
from dynamo_continuous_backup.provisioning.provisioner import Provisioner
from dynamo_continuous_backup.restore.backups import BackupStore
from dynamo_continuous_backup.restore.checkpoint import Checkpointer
from dynamo_continuous_backup.restore.keys import key_text
from dynamo_continuous_backup.restore.state import item_state
from dynamo_continuous_backup.restore.statequery import connect, iter_state
from dynamo_continuous_backup.snapshot import checkpoint as checkpoint_fn
from dynamo_continuous_backup.snapshot.checkpoint import ScheduledCheckpoints, handoff_note

from ..fakes import load_event
from ..helpers import BUCKET, cli

DAY = 86400.0
NOW = time.time()
T0 = NOW - 10 * DAY  # the first base
ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/{}/stream/{}"


def put_json_lines(aws: Clients, key: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    body = gzip.compress(b"".join(json.dumps(r).encode() + b"\n" for r in rows))
    etag = aws.s3.put_object(Bucket=BUCKET, Key=key, Body=body)["ETag"]
    return {"key": key, "size": len(body), "etag": etag, "sha256": ""}


def synthesize(aws: Clients, table: str, seed: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Ten days of one table's backups laid out as Firehose and a scan leave them: a base at T0
    and 600 changes after it, each in the hour partition it arrived in. Returns the base's
    images by key and the change records."""
    rng = random.Random(seed)
    label = iso(T0 - 3600).replace("Z", ".000")
    keys = [f"k{i}" for i in range(40)]
    base = {k: {"pk": {"S": k}, "v": {"N": "0"}} for k in keys[:25]}
    run = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(T0)) + "-scan"
    prefix = f"backups/@snapshots/{table}/{run}/"
    files = [
        put_json_lines(
            aws, prefix + "part.ndjson.gz", [{"Keys": {"pk": v["pk"]}, "NewImage": v} for v in base.values()]
        )
    ]
    manifest = {
        "runId": run,
        "table": table,
        "kind": "scan",
        "streamArn": ARN.format(table, label),
        "startTime": T0,
        "endTime": T0 + 60,
        "items": len(base),
        "files": files,
    }
    aws.s3.put_object(Bucket=BUCKET, Key=prefix + "manifest.json", Body=json.dumps(manifest).encode())
    changes: list[dict[str, Any]] = []
    by_hour: dict[str, list[dict[str, Any]]] = {}
    for i in range(600):
        when = float(int(T0 + 120 + i * (9 * DAY / 600)))
        key = rng.choice(keys)
        event = rng.choice(["INSERT", "MODIFY", "MODIFY", "REMOVE"])
        record: dict[str, Any] = {
            "Keys": {"pk": {"S": key}},
            "SequenceNumber": str(10**20 + i),
            "eventName": event,
            "eventID": f"e{i}",
            "ApproximateCreationDateTime": when,
            "streamLabel": label,
        }
        if event != "REMOVE":
            record["NewImage"] = {"pk": {"S": key}, "v": {"N": str(i)}}
        changes.append(record)
        # Firehose files a record by when it arrived: here up to 3 h late, in every third hour
        arrival = (when // (3 * 3600) + 1) * 3 * 3600
        by_hour.setdefault(time.strftime("%Y/%m/%d/%H", time.gmtime(arrival)), []).append(record)
    for hour, rows in by_hour.items():
        put_json_lines(aws, f"backups/{table}/{hour}/part-{hour.replace('/', '')}.gz", rows)
    return base, changes


def change_objects(aws: Clients) -> set[str]:
    pages = aws.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="backups/cp/")
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def reference(base: dict[str, Any], changes: list[dict[str, Any]], at: float) -> dict[str, Any]:
    """The pure model (restore/state.py): per item, its last change by T, else its base image."""
    out = {}
    for key in {r["Keys"]["pk"]["S"] for r in changes} | set(base):
        image = item_state([r for r in changes if r["Keys"]["pk"]["S"] == key], at, base.get(key))
        if image is not None:
            out[key_text({"pk": {"S": key}}, ["pk"])] = image
    return out


def state_at(store: BackupStore, table: str, at: float) -> dict[str, Any]:
    backups = store.sync(table, store.window(table, at))
    return {k: loads(image) for k, image, _ in iter_state(connect(), backups, at)}


@pytest.mark.parametrize("seed", [1, 2])
def test_checkpoint_then_restore_equals_the_reference_at_every_time(
    aws: Clients, config: Config, tmp_path: Path, seed: int
) -> None:
    # GIVEN ten days of backups after a first base
    base, changes = synthesize(aws, "cp", seed)
    times = sorted(random.Random(seed).uniform(T0 + 61, NOW) for _ in range(6)) + [NOW]
    # WHEN a checkpoint is taken as of three days ago
    as_of = float(int(NOW - 3 * DAY))
    result = Checkpointer(BackupStore(aws, config, tmp_path / "cp")).run("cp", as_of)
    assert result.items == len(reference(base, changes, as_of))
    # THEN at every time, before and after it, the state equals the reference model
    for n, at in enumerate(times):
        store = BackupStore(aws, config, tmp_path / f"r{n}")
        assert state_at(store, "cp", at) == reference(base, changes, at), iso(at)
    # AND a state after it reads from the checkpoint, never the first base or the hours before it
    window = BackupStore(aws, config, tmp_path / "w").window("cp", NOW)
    assert window is not None and window.base is not None and window.base.run_id == result.run_id
    assert window.since == as_of - LATE_SECONDS - MARGIN_SECONDS


def test_a_checkpoint_bounds_what_a_restore_reads(aws: Clients, config: Config, tmp_path: Path) -> None:
    base, changes = synthesize(aws, "cp", 7)
    before = BackupStore(aws, config, tmp_path / "before")
    state_before = state_at(before, "cp", NOW)
    Checkpointer(BackupStore(aws, config, tmp_path / "cp")).run("cp", float(int(NOW - DAY)))
    after = BackupStore(aws, config, tmp_path / "after")
    assert state_at(after, "cp", NOW) == state_before == reference(base, changes, NOW)
    # the base and about two of the ten days of changes, instead of all of them
    assert after.fetched_bytes < before.fetched_bytes / 2


def test_a_change_landing_after_the_checkpoint_still_counts(aws: Clients, config: Config, tmp_path: Path) -> None:
    # GIVEN a checkpoint as of an hour ago
    base, changes = synthesize(aws, "cp", 4)
    as_of = float(int(NOW - 3600))
    Checkpointer(BackupStore(aws, config, tmp_path / "cp")).run("cp", as_of)
    # WHEN a change made before it lands only now (the stream may deliver up to 24 h late)
    late = {
        "Keys": {"pk": {"S": "late"}},
        "NewImage": {"pk": {"S": "late"}, "v": {"N": "1"}},
        "SequenceNumber": str(10**21),
        "eventName": "INSERT",
        "eventID": "late",
        "ApproximateCreationDateTime": as_of - 6 * 3600,
        "streamLabel": changes[0]["streamLabel"],
    }
    put_json_lines(aws, f"backups/cp/{time.strftime('%Y/%m/%d/%H', time.gmtime())}/late.gz", [late])
    # THEN a restore after the checkpoint has it, as the model says
    assert state_at(BackupStore(aws, config, tmp_path / "r"), "cp", NOW) == reference(base, [*changes, late], NOW)


def test_two_checkpoints_at_once_write_one_base(aws: Clients, config: Config, tmp_path: Path) -> None:
    base, changes = synthesize(aws, "cp", 5)
    as_of = float(int(NOW - 2 * DAY))
    results: list[Any] = []
    runs = [
        threading.Thread(
            target=lambda n=n: results.append(
                Checkpointer(BackupStore(aws, config, tmp_path / f"c{n}")).run("cp", as_of)
            )
        )
        for n in range(2)
    ]
    for t in runs:
        t.start()
    for t in runs:
        t.join()
    assert len({r.run_id for r in results}) == 1
    bases = [b for g in BackupStore(aws, config, tmp_path).timeline("cp").generations for b in g.bases]
    assert [b.kind for b in bases] == ["scan", "checkpoint"]
    assert state_at(BackupStore(aws, config, tmp_path / "r"), "cp", NOW) == reference(base, changes, NOW)


def test_checkpoint_cli(aws: Clients, config: Config, tmp_path: Path) -> None:
    synthesize(aws, "cp", 9)
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"firehoseDeliveryBucket": BUCKET, "firehoseDeliveryPrefix": "backups"}))
    as_of = str(int(NOW - DAY))
    code, out, err = cli("checkpoint", "cp", "--config", str(path), "--at", as_of)
    assert code == 0 and "items" in out and err == "", (out, err)
    code, out, err = cli("checkpoint", "cp", "--config", str(path), "--at", as_of)
    assert code == 0 and "exists already" in out
    # a checkpoint is no version of an item: history does not list one that changed nothing
    code, out, err = cli("history", "cp", "--key", "pk=k1", "--config", str(path))
    assert code == 0 and out.count("SNAPSHOT") == 1 and "(no attribute changed)" not in out, out
    code, out, err = cli("checkpoint", "cp", "--config", str(path), "--at", str(int(T0 - DAY)))
    assert code == 2 and "before the earliest restorable time" in err and err.count("\n") == 1


def test_the_ensure_functions_checkpoint_equals_the_clis(aws: Clients, config: Config, tmp_path: Path) -> None:
    # GIVEN ten days of history, its last base ten days old, and a schedule of one day
    base, changes = synthesize(aws, "cp", 6)
    aws.s3.put_object(
        Bucket=BUCKET,
        Key="backups/@schemas/cp/schema.json",
        Body=json.dumps({"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]}).encode(),
    )
    scheduled = ScheduledCheckpoints(aws, config.replace(checkpoint_interval_hours=24), clock=lambda: NOW)
    # WHEN the ensure function's schedule runs, twice
    first, again = scheduled.run("cp"), scheduled.run("cp")
    # THEN it wrote one checkpoint, and restores from it give the reference model's state
    assert first.action == "checkpoint" and again.action == ""
    bases = [b for g in BackupStore(aws, config, tmp_path).timeline("cp").generations for b in g.bases]
    assert [b.kind for b in bases] == ["scan", "checkpoint"] and bases[-1].end == float(int(NOW))
    assert state_at(BackupStore(aws, config, tmp_path / "r"), "cp", NOW) == reference(base, changes, NOW)
    # AND the CLI's checkpoint of the same time holds the same items
    cli_run = Checkpointer(BackupStore(aws, config, tmp_path / "c")).run("cp", float(int(NOW)))
    assert cli_run.items == bases[-1].items == len(reference(base, changes, NOW))


def put_schema(aws: Clients, table: str) -> None:
    aws.s3.put_object(
        Bucket=BUCKET,
        Key=f"backups/@schemas/{table}/schema.json",
        Body=json.dumps({"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]}).encode(),
    )


def test_a_window_too_large_for_the_function_is_handed_to_the_cli(
    aws: Clients, config: Config, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # GIVEN a table whose changes since its base hold more than the function may hold
    synthesize(aws, "cp", 8)
    put_schema(aws, "cp")
    monkeypatch.setattr(checkpoint_fn, "MAX_HELD_BYTES", 2000)
    daily = config.replace(checkpoint_interval_hours=24)
    # WHEN the schedule runs, twice
    done = ScheduledCheckpoints(aws, daily, clock=lambda: NOW).run("cp")
    again = ScheduledCheckpoints(aws, daily, clock=lambda: NOW).run("cp")
    # THEN it wrote no base, handed the checkpoint to the CLI, and status says so
    assert done.action == again.action == "" and done.reason == again.reason
    assert "too large for the function: run `dynamo-backup checkpoint cp" in done.reason
    assert [b.kind for g in read_timeline(aws, config, "cp").generations for b in g.bases] == ["scan"]
    assert handoff_note(aws, config, "cp", read_timeline(aws, config, "cp")) == done.reason
    # AND once the CLI has written the checkpoint, the note is gone
    Checkpointer(BackupStore(aws, config, tmp_path)).run("cp", float(int(NOW - 60)))
    assert handoff_note(aws, config, "cp", read_timeline(aws, config, "cp")) is None


def test_the_hourly_reconcile_checkpoints_a_table_whose_base_is_older_than_the_interval(
    deployed: tuple[Config, LocalRuntime], aws: Clients, make_table: Callable[..., str], tmp_path: Path
) -> None:
    # GIVEN a protected table with items, and a clock a day and an hour later
    config, runtime = deployed
    make_table("sched")
    runtime.settle()
    for n in range(5):
        aws.dynamodb.put_item(TableName="sched", Item={"pk": {"S": f"i{n}"}, "v": {"N": str(n)}})
    runtime.settle()
    later = time.time() + 25 * 3600
    provisioner = Provisioner(aws, config, clock=lambda: later)
    # WHEN the scheduled reconcile runs then
    out = handle(load_event("scheduled.json"), provisioner, OptIn.from_config(config), aws)
    # THEN it checkpointed the table, and the checkpoint holds its five items
    [row] = [r for r in out["results"] if r["table"] == "sched"]
    assert row["status"] == "protected" and "checkpoint" in row["actions"]
    [checkpoint] = [b for g in BackupStore(aws, config, tmp_path).timeline("sched").generations for b in g.bases][1:]
    assert checkpoint.kind == "checkpoint" and checkpoint.items == 5


def test_checkpoints_beyond_the_reconciles_time_budget_wait_for_the_next_one(
    aws: Clients, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    synthesize(aws, "cp", 10)
    monkeypatch.setattr(checkpoint_fn, "BUDGET_SECONDS", -1.0)  # the budget is used up from the start
    done = ScheduledCheckpoints(aws, config.replace(checkpoint_interval_hours=24), clock=lambda: NOW).run("cp")
    assert done.action == "" and "next reconcile" in done.reason


def test_retention_keeps_the_base_and_the_changes_the_promised_window_needs(
    aws: Clients, config: Config, tmp_path: Path
) -> None:
    # GIVEN ten days of history and a retention of three days
    base, changes = synthesize(aws, "cp", 11)
    kept = config.replace(change_retention_days=3)
    before = change_objects(aws)
    # WHEN one checkpoint is written, as of now
    Checkpointer(BackupStore(aws, kept, tmp_path / "cp")).run("cp", float(int(NOW)))
    # THEN nothing is removed: a time three days ago still needs the first base and every change since
    assert change_objects(aws) == before
    store = BackupStore(aws, kept, tmp_path / "r")
    timeline = store.timeline("cp")
    assert [b.kind for g in timeline.generations for b in g.bases] == ["scan", "checkpoint"]
    assert timeline.restorable() == [(T0 + 60, None)]  # not "from now"
    assert state_at(store, "cp", NOW - 3 * DAY) == reference(base, changes, NOW - 3 * DAY)
