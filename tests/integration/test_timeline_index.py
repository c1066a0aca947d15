"""The timeline's base index: each base writer leaves a fact whose name is the base's summary, so
a restore lists the bases and GETs only the manifest of the base it uses, however many days of
checkpoints there are; bases written before facts existed are still read from their manifests."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.config import Config
from dynamo_continuous_backup.core.timeline_store import read_timeline
from dynamo_continuous_backup.provisioning.provisioner import Provisioner
from dynamo_continuous_backup.restore.backups import BackupStore
from dynamo_continuous_backup.restore.checkpoint import Checkpointer
from dynamo_continuous_backup.snapshot.backfill import Backfill
from dynamo_continuous_backup.snapshot.export import export_snapshot

from ..helpers import BUCKET
from .test_checkpoint import DAY, NOW, T0, reference, state_at, synthesize


@contextmanager
def gets(aws: Clients) -> Iterator[list[str]]:
    """The keys of every GetObject the client makes inside the block."""
    keys: list[str] = []

    def note(params: dict[str, Any], **_: Any) -> None:
        keys.append(params["Key"])

    aws.s3.meta.events.register("before-parameter-build.s3.GetObject", note)
    try:
        yield keys
    finally:
        aws.s3.meta.events.unregister("before-parameter-build.s3.GetObject", note)


def daily_checkpoints(aws: Clients, config: Config, tmp_path: Path, days: int) -> None:
    for d in range(1, days + 1):
        Checkpointer(BackupStore(aws, config, tmp_path / "cp")).run("ix", float(int(T0 + d * DAY)))


def base_facts(aws: Clients, table: str) -> list[str]:
    pages = aws.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"backups/@timelines/{table}/bases/")
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def test_a_restore_reads_the_manifest_of_its_base_only_however_many_checkpoints(
    aws: Clients, config: Config, tmp_path: Path
) -> None:
    # GIVEN ten days of history: a scan base written before facts existed, and a checkpoint a day
    base, changes = synthesize(aws, "ix", 3)
    daily_checkpoints(aws, config, tmp_path, 9)
    # WHEN a restore of the latest state reads its timeline and its inputs
    store = BackupStore(aws, config, tmp_path / "r")
    with gets(aws) as read:
        state = state_at(store, "ix", NOW)
    # THEN of the ten bases it read two manifests: the old scan's (it has no fact) and the one it uses
    window = store.window("ix", NOW)
    assert window is not None and window.base is not None and window.base.end == float(int(T0 + 9 * DAY))
    scan = next(k for k in read if k.endswith("-scan/manifest.json"))
    assert sorted(k for k in read if k.endswith("manifest.json")) == sorted([scan, window.base.manifest])
    # AND the state is exact
    assert state == reference(base, changes, NOW)


def test_bases_without_facts_are_read_from_their_manifests_and_give_the_same_timeline(
    aws: Clients, config: Config, tmp_path: Path
) -> None:
    # GIVEN a table with a scan base and five daily checkpoints, whose timeline is read from facts
    base, changes = synthesize(aws, "ix", 4)
    daily_checkpoints(aws, config, tmp_path, 5)
    indexed = read_timeline(aws, config, "ix")
    assert len(base_facts(aws, "ix")) == 5 and sum(len(g.bases) for g in indexed.generations) == 6
    # WHEN the facts are gone (bases written by an older version, or a writer stopped in between)
    for key in base_facts(aws, "ix")[::2]:
        aws.s3.delete_object(Bucket=BUCKET, Key=key)
    # THEN the timeline read from the manifests is the same, base by base, and restores are exact
    assert read_timeline(aws, config, "ix") == indexed
    for key in base_facts(aws, "ix"):
        aws.s3.delete_object(Bucket=BUCKET, Key=key)
    assert read_timeline(aws, config, "ix") == indexed
    for at in (T0 + 2.5 * DAY, NOW):
        assert state_at(BackupStore(aws, config, tmp_path / f"r{at}"), "ix", at) == reference(base, changes, at)


def test_a_run_in_progress_is_no_base_and_fails_no_read(aws: Clients, config: Config, tmp_path: Path) -> None:
    synthesize(aws, "ix", 5)
    run = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(NOW - 60)) + "-scan"
    aws.s3.put_object(Bucket=BUCKET, Key=f"backups/@snapshots/ix/{run}/run.json", Body=b"{}")
    bases = [b.run_id for g in read_timeline(aws, config, "ix").generations for b in g.bases]
    assert len(bases) == 1 and run not in bases


def test_backfills_and_exports_index_their_bases(
    aws: Clients, config: Config, make_table: Callable[..., str], tmp_path: Path
) -> None:
    # GIVEN a protected table of 30 items, with point-in-time recovery on
    make_table("orders")
    for i in range(30):
        aws.dynamodb.put_item(TableName="orders", Item={"pk": {"S": f"k{i:02d}"}})
    Provisioner(aws, config.replace(snapshot_on_enable=False)).ensure("orders")
    aws.dynamodb.update_continuous_backups(
        TableName="orders", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    # WHEN it is backfilled by a scan and by an export
    scan = Backfill(aws, config, "orders", segments=2).run()
    export = export_snapshot(aws, config, "orders", sleep=lambda s: time.sleep(0.05))
    # THEN the timeline has both, with their kinds and item counts, and reading it GETs no manifest
    with gets(aws) as read:
        timeline = read_timeline(aws, config, "orders")
    assert not [k for k in read if k.endswith("manifest.json")]
    found = {b.run_id: (b.kind, b.items) for g in timeline.generations for b in g.bases}
    assert found == {scan.run_id: ("scan", 30), export.run_id: ("export", export.items)}
