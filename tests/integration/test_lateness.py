"""Late changes and retention against S3's real semantics (moto): a change landing 30 h late
after a checkpoint, a checkpoint a later change contradicts, a prune racing a restore, and
what a restore says after a prune."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.config import Config
from dynamo_continuous_backup.core.errors import UnrestorableError
from dynamo_continuous_backup.core.timeline import Window, iso_up
from dynamo_continuous_backup.core.timeline_store import prune_changes
from dynamo_continuous_backup.restore.backups import BackupStore
from dynamo_continuous_backup.restore.checkpoint import Checkpointer

from .test_checkpoint import DAY, NOW, put_json_lines, reference, state_at, synthesize

OLD_LATE = 24 * 3600.0 + 900.0  # the bound checkpoints claimed before: the stream's 24 h and a buffer


def late_change(label: str, when: float) -> dict[str, Any]:
    return {
        "Keys": {"pk": {"S": "late"}},
        "NewImage": {"pk": {"S": "late"}, "v": {"N": "30"}},
        "SequenceNumber": str(10**22),
        "eventName": "INSERT",
        "eventID": "late",
        "ApproximateCreationDateTime": when,
        "streamLabel": label,
    }


def land(aws: Clients, record: dict[str, Any]) -> None:
    """A change landing now, in the hour partition it arrived in (a forwarder failing for a day)."""
    hour = time.strftime("%Y/%m/%d/%H", time.gmtime())
    put_json_lines(aws, f"backups/cp/{hour}/late-{record['eventID']}.gz", [record])


def test_a_change_landing_30_h_late_after_a_checkpoint_is_restored(
    aws: Clients, config: Config, tmp_path: Path
) -> None:
    # GIVEN a checkpoint as of an hour ago
    base, changes = synthesize(aws, "cp", 21)
    as_of = float(int(NOW - 3600))
    Checkpointer(BackupStore(aws, config, tmp_path / "cp")).run("cp", as_of)
    # WHEN a change made 30 h before it lands only now
    late = late_change(changes[0]["streamLabel"], as_of - 30 * 3600)
    land(aws, late)
    # THEN the latest state has it (today: the item kept its old value, "verified")
    state = state_at(BackupStore(aws, config, tmp_path / "r"), "cp", NOW)
    assert state == reference(base, [*changes, late], NOW)
    assert any(image["v"] == {"N": "30"} for image in state.values())


def test_a_checkpoint_a_later_change_contradicts_is_no_longer_trusted(
    aws: Clients, config: Config, tmp_path: Path
) -> None:
    # GIVEN a checkpoint written with the old 24 h bound (claims completeness from T - 24 h 15 min)
    base, changes = synthesize(aws, "cp", 22)
    as_of = float(int(NOW - 3600))
    cp = Checkpointer(BackupStore(aws, config, tmp_path / "cp"), late=OLD_LATE).run("cp", as_of)
    assert BackupStore(aws, config, tmp_path / "w0").window("cp", NOW).base.run_id == cp.run_id  # type: ignore[union-attr]
    # WHEN a change made 30 h before its T lands after it
    late = late_change(changes[0]["streamLabel"], as_of - 30 * 3600)
    land(aws, late)
    # THEN the checkpoint is untrusted: restores fall back to the scan before it, and are exact
    store = BackupStore(aws, config, tmp_path / "r")
    assert store.timeline("cp").untrusted == {cp.run_id}
    window = store.window("cp", NOW)
    assert window is not None and window.base is not None and window.base.kind == "scan"
    assert state_at(store, "cp", NOW) == reference(base, [*changes, late], NOW)


def daily_checkpoints(aws: Clients, config: Config, tmp_path: Path, days: int = 9) -> list[float]:
    """A checkpoint each day from `days` days ago to now (the ensure function's schedule)."""
    times = [float(int(NOW - k * DAY)) for k in range(days, -1, -1)]
    for n, at in enumerate(times):
        Checkpointer(BackupStore(aws, config, tmp_path / f"cp{n}")).run("cp", at)
    return times


def change_keys(aws: Clients) -> set[str]:
    pages = aws.s3.get_paginator("list_objects_v2").paginate(Bucket="backup-bucket", Prefix="backups/cp/")
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def test_retention_keeps_the_promised_days_restorable(aws: Clients, config: Config, tmp_path: Path) -> None:
    # GIVEN ten days of history, daily checkpoints and changeRetentionDays: 3
    base, changes = synthesize(aws, "cp", 23)
    kept = config.replace(change_retention_days=3)
    before = change_keys(aws)
    daily_checkpoints(aws, kept, tmp_path)
    # THEN old change objects are gone, yet every time of the last three days restores exactly
    assert len(change_keys(aws)) < len(before)
    store = BackupStore(aws, kept, tmp_path / "r")
    first = store.timeline("cp").restorable()[0][0]
    assert first <= time.time() - 3 * DAY
    for at in (time.time() - 3 * DAY, NOW - 2.5 * DAY, NOW):
        assert state_at(BackupStore(aws, kept, tmp_path / f"s{at}"), "cp", at) == reference(base, changes, at)


def test_after_a_prune_restores_name_the_new_earliest_time_and_from_start_refuses(
    aws: Clients, config: Config, tmp_path: Path
) -> None:
    synthesize(aws, "cp", 24)
    kept = config.replace(change_retention_days=3)
    daily_checkpoints(aws, kept, tmp_path)
    store = BackupStore(aws, kept, tmp_path / "r")
    first = store.timeline("cp").restorable()[0][0]
    # the earliest a restore reports is the new one, not the first scan's end
    backups = store.sync("cp", store.window("cp", NOW))
    assert backups.earliest_restorable() == first
    # and a restore from the start, where the changes were removed, refuses with the reason
    with pytest.raises(UnrestorableError, match="retention"):
        store.window("cp", NOW - 8 * DAY, from_start=True)


class PruneWhileRestoring(BackupStore):
    """A restore with a prune run at one point of it: after it read the timeline ("timeline"),
    or after it listed the change objects ("listed")."""

    def __init__(self, clients: Clients, config: Config, cache: Path, when: str, retention: Config) -> None:
        super().__init__(clients, config, cache)
        self.when, self.retention = when, retention

    def _prune(self) -> None:
        assert prune_changes(self.clients, self.retention, "cp", time.time()) > 0

    def window(self, *args: Any, **kwargs: Any) -> Window | None:
        got = super().window(*args, **kwargs)
        if self.when == "timeline":
            self._prune()
        return got

    def _download(self, objects: list[dict[str, Any]]) -> list[Path]:
        if self.when == "listed":
            self._prune()
        return super()._download(objects)


@pytest.mark.parametrize("when", ["timeline", "listed"])
def test_a_prune_racing_a_restore_makes_it_refuse_never_miss_changes(
    aws: Clients, config: Config, tmp_path: Path, when: str
) -> None:
    # GIVEN daily checkpoints written with no retention, and a restore at six days ago
    synthesize(aws, "cp", 25)
    daily_checkpoints(aws, config, tmp_path)
    store = PruneWhileRestoring(aws, config, tmp_path / "r", when, config.replace(change_retention_days=3))
    # WHEN retention removes the changes it needs while it runs
    # THEN it refuses and says why (it re-checks the prune facts after listing and reading)
    with pytest.raises(UnrestorableError, match="retention removed the changes of cp"):
        store.sync("cp", store.window("cp", NOW - 6 * DAY))
    # AND a restore started afterwards refuses up front, naming the new earliest time
    with pytest.raises(UnrestorableError, match="earliest restorable time"):
        BackupStore(aws, config, tmp_path / "r2").window("cp", NOW - 6 * DAY)


def test_a_checkpoint_notes_the_change_objects_it_listed(aws: Clients, config: Config, tmp_path: Path) -> None:
    synthesize(aws, "cp", 26)
    cp = Checkpointer(BackupStore(aws, config, tmp_path / "cp")).run("cp", float(int(NOW)))
    key = f"backups/@snapshots/cp/{cp.run_id}/manifest.json"
    manifest = json.loads(aws.s3.get_object(Bucket="backup-bucket", Key=key)["Body"].read())
    assert manifest["listedNewest"] > 0 and manifest["listedSeen"]
    assert manifest["startTime"] == cp.at - 48 * 3600 - 900 - 60


def snapshot_runs(aws: Clients) -> dict[str, set[str]]:
    """Every object under the table's @snapshots/, by run folder."""
    pages = aws.s3.get_paginator("list_objects_v2").paginate(Bucket="backup-bucket", Prefix="backups/@snapshots/cp/")
    runs: dict[str, set[str]] = {}
    for page in pages:
        for o in page.get("Contents", []):
            run, _, name = o["Key"].removeprefix("backups/@snapshots/cp/").partition("/")
            runs.setdefault(run, set()).add(name)
    return runs


def test_retention_removes_the_bases_no_promised_time_uses(aws: Clients, config: Config, tmp_path: Path) -> None:
    # GIVEN a scan ten days ago, a checkpoint a day over the last six days, changeRetentionDays: 3
    base, changes = synthesize(aws, "cp", 27)
    scan = set(snapshot_runs(aws))
    kept = config.replace(change_retention_days=3)
    times = daily_checkpoints(aws, kept, tmp_path, days=6)
    # THEN only the checkpoints of three days ago (what times there restore from) and after are in S3,
    # each whole (its parts and manifest); the scan and the older checkpoints are gone, every file
    store = BackupStore(aws, kept, tmp_path / "r")
    timeline = store.timeline("cp")
    bases = [b for g in timeline.generations for b in g.bases]
    assert [b.end for b in bases] == times[-4:]
    runs = snapshot_runs(aws)
    assert set(runs) == {b.run_id for b in bases} and not scan & set(runs)
    assert all({"manifest.json", "part-00000.ndjson.gz"} <= names for names in runs.values())
    assert {b.run_id for b in timeline.removed} >= scan  # the facts name what went
    # AND every time of the last three days still restores exactly, from the same base as before
    for at in (time.time() - 3 * DAY, times[-4], NOW - 2.5 * DAY, NOW - DAY - 1, NOW):
        assert state_at(BackupStore(aws, kept, tmp_path / f"s{at}"), "cp", at) == reference(base, changes, at)
    # AND a time before them is refused, naming the new earliest time
    with pytest.raises(UnrestorableError, match=f"before the earliest restorable time {iso_up(times[-4])}"):
        store.window("cp", NOW - 4 * DAY)


class RemoveWhileReadingTheBase(BackupStore):
    """A restore with a prune run (retention `retention`) while it downloads its base's parts."""

    def __init__(self, clients: Clients, config: Config, cache: Path, retention: Config) -> None:
        super().__init__(clients, config, cache)
        self.retention, self.pruned = retention, False

    def _download(self, objects: list[dict[str, Any]]) -> list[Path]:
        if not self.pruned and any("/@snapshots/" in o["Key"] for o in objects):
            self.pruned = True
            prune_changes(self.clients, self.retention, "cp", time.time())
        return super()._download(objects)


def test_a_base_removed_while_a_restore_reads_it_makes_it_refuse_never_read_part_of_it(
    aws: Clients, config: Config, tmp_path: Path
) -> None:
    # GIVEN checkpoints two days ago and an hour after, and a restore between them (from the first):
    # with changeRetentionDays 1 retention removes the first (times of the last day use the second)
    synthesize(aws, "cp", 28)
    Checkpointer(BackupStore(aws, config, tmp_path / "c0")).run("cp", float(int(NOW - 2 * DAY)))
    second = Checkpointer(BackupStore(aws, config, tmp_path / "c1")).run("cp", float(int(NOW - 2 * DAY + 3600)))
    store = RemoveWhileReadingTheBase(aws, config, tmp_path / "r", config.replace(change_retention_days=1))
    window = store.window("cp", NOW - 2 * DAY + 60)
    assert window is not None and window.base is not None and window.base.run_id != second.run_id
    # WHEN retention removes that base while the restore downloads its parts (its changes are read)
    # THEN the restore refuses, naming why: never a state from part of a base
    with pytest.raises(UnrestorableError, match=f"retention removed base {window.base.run_id} of cp"):
        store.sync("cp", window)
    assert window.base.run_id not in snapshot_runs(aws)
