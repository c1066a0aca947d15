"""A table is protected only when it is restorable: a complete base of its current stream exists."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from moto.dynamodb.models import DynamoDBBackend

from dynamo_continuous_backup.cli.main import UI, main
from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.config import Config
from dynamo_continuous_backup.local import LocalRuntime
from dynamo_continuous_backup.provisioning.provisioner import Provisioner
from dynamo_continuous_backup.restore.backups import BackupStore
from dynamo_continuous_backup.restore.restore import RestoreOptions, Restorer
from dynamo_continuous_backup.snapshot.backfill import Backfill

from ..fakes import MotoFault


def status(config_path: Path) -> tuple[int, str]:
    out = io.StringIO()
    code = main(["status", "--config", str(config_path)], UI(out, out))
    return code, out.getvalue()


def test_a_failed_first_snapshot_is_retaken_by_the_reconcile_and_reported_until_then(
    deployed: tuple[Config, LocalRuntime],
    aws: Clients,
    make_table: Callable[..., str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    config, runtime = deployed
    # GIVEN a table holding items written before capture began, and a first snapshot that fails
    make_table("orders")
    for i in range(10):
        aws.dynamodb.put_item(TableName="orders", Item={"pk": {"S": f"old{i}"}})
    denied = MotoFault(
        monkeypatch, DynamoDBBackend, "scan", "AccessDeniedException", "not authorized to perform dynamodb:Scan"
    )
    runtime.settle()  # CreateTable -> ensure: stream, delivery stream and mapping, then the snapshot fails
    # THEN status says it is not restorable, names the command that fixes it, and exits 1
    code, text = status(tmp_path / "config.hjson")
    assert code == 1, text
    assert "not restorable" in text and "dynamo-backup backfill orders" in text
    # WHEN the hourly reconcile runs with scanning allowed again
    denied.on = False
    runtime.fire_schedules(force=True)
    # THEN the base is taken, status is clean, and a restore holds the items from before capture
    code, text = status(tmp_path / "config.hjson")
    assert code == 0, text
    result = Restorer(aws, BackupStore(aws, config, tmp_path / "cache")).restore(
        "orders", "orders-restored", RestoreOptions()
    )
    assert result.verified and result.items == 10


def test_a_large_table_is_handed_off_at_every_ensure_until_backfilled(
    aws: Clients, config: Config, make_table: Callable[..., str]
) -> None:
    make_table("big")
    for i in range(12):
        aws.dynamodb.put_item(TableName="big", Item={"pk": {"S": f"k{i}"}})
    provisioner = Provisioner(aws, config.replace(snapshot_max_items=5))
    for _ in range(2):  # every reconcile says so again, not just the first
        result = provisioner.ensure("big")
        assert result.status == "not_restorable" and not result.ok
        assert "snapshotMaxItems" in result.reason and "dynamo-backup backfill big" in result.reason
    Backfill(aws, config, "big", segments=2).run()
    assert provisioner.ensure("big").status == "protected"


def test_a_base_of_an_earlier_incarnation_does_not_count(
    aws: Clients, config: Config, make_table: Callable[..., str]
) -> None:
    make_table("orders")
    provisioner = Provisioner(aws, config)
    assert "snapshot" in provisioner.ensure("orders").actions
    assert "snapshot" not in provisioner.ensure("orders").actions  # the base exists: not retaken
    # WHEN the table is deleted and recreated under the same name
    aws.dynamodb.delete_table(TableName="orders")
    make_table("orders")
    # THEN the new incarnation gets its own base
    assert "snapshot" in provisioner.ensure("orders").actions
