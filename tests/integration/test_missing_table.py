"""A missing table is one error, whoever finds it missing: TableNotFoundError, one line, exit 3."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from dynamo_continuous_backup.cli.main import UI, main
from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.config import Config
from dynamo_continuous_backup.core.errors import TableNotFoundError
from dynamo_continuous_backup.restore.tablewrite import BatchWriter
from dynamo_continuous_backup.snapshot.backfill import Backfill
from dynamo_continuous_backup.snapshot.export import export_snapshot

LINE = "error: table nosuch does not exist: check the name and the region\n"


def test_backfill_and_verify_of_a_missing_table_say_the_same_one_line_with_exit_3(
    aws: Clients, config: Config, tmp_path: Path
) -> None:
    cfg = tmp_path / "c.json"
    cfg.write_text(config.to_json())
    for command in (["backfill", "nosuch"], ["backfill", "nosuch", "--export"], ["verify", "nosuch"]):
        out, err = io.StringIO(), io.StringIO()
        code = main([*command, "--config", str(cfg)], UI(out, err))
        assert (code, err.getvalue()) == (3, LINE), command


def test_the_snapshot_paths_find_it_missing_too(aws: Clients, config: Config) -> None:
    # The CLI checks first; the library raises the same error when called on its own.
    with pytest.raises(TableNotFoundError, match="^table nosuch does not exist"):
        Backfill(aws, config, "nosuch", segments=2).run()
    with pytest.raises(TableNotFoundError, match="^table nosuch does not exist"):
        export_snapshot(aws, config, "nosuch")
    listing = aws.s3.list_objects_v2(Bucket=config.firehose_delivery_bucket, Prefix="backups/@snapshots/nosuch/")
    assert listing["KeyCount"] == 0  # found missing before any snapshot run was started


def test_a_target_deleted_during_a_restore_write_is_the_missing_table_error(aws: Clients) -> None:
    writer = BatchWriter(aws.dynamodb, "nosuch", threads=1, sleep=lambda s: None)
    with pytest.raises(TableNotFoundError, match="^table nosuch does not exist"):
        writer.write([{"PutRequest": {"Item": {"pk": {"S": "a"}}}}])
