"""--dry-run: one exit rule for deploy, provision and deprovision (0: the plan can be applied,
changes or not; 1: some table or resource cannot be), and nothing changed (the printing
executor's lines: tests/unit/test_dry_run.py)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from dynamo_continuous_backup.core import naming
from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.config import Config

from ..helpers import BUCKET, cli


@pytest.fixture
def refuse(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str, str], None]]:
    """Make AWS answer one operation with an error; every other call still goes to moto."""
    original = BaseClient._make_api_call

    def set_refusal(operation: str, code: str) -> None:
        def call(self: Any, name: str, params: dict[str, Any]) -> Any:
            if name == operation:
                error = {
                    "Error": {"Code": code, "Message": "refused for test"},
                    "ResponseMetadata": {"HTTPStatusCode": 403},
                }
                raise ClientError(error, name)
            return original(self, name, params)

        monkeypatch.setattr(BaseClient, "_make_api_call", call)

    yield set_refusal


def write_files(tmp_path: Path, config: Config, tables: list[str]) -> tuple[str, str]:
    (tmp_path / "c.hjson").write_text(config.to_json())
    (tmp_path / "w.hjson").write_text(json.dumps({"tableNames": tables}))
    return str(tmp_path / "w.hjson"), str(tmp_path / "c.hjson")


def test_provision_dry_run_exits_0_when_it_can_be_applied_else_1(
    aws: Clients, config: Config, make_table: Callable[..., str], tmp_path: Path
) -> None:
    make_table("orders")
    wl, cfg = write_files(tmp_path, config, ["orders"])
    code, out, _ = cli("provision", wl, "--config", cfg, "--dry-run")
    assert code == 0, out
    assert "would enable stream: table orders (NEW_AND_OLD_IMAGES)" in out and "would snapshot: table orders" in out
    planned = "enable_stream, create_delivery_stream, create_mapping, put_delivery_alarms, save_schema, snapshot"
    assert f"orders: planned ({planned})" in out
    assert aws.firehose.list_delivery_streams()["DeliveryStreamNames"] == []  # nothing changed
    assert cli("provision", wl, "--config", cfg)[0] == 0
    code, out, _ = cli("provision", wl, "--config", cfg, "--dry-run")
    assert code == 0 and "orders: protected (save_schema)" in out  # no changes: still applicable
    assert [line for line in out.splitlines() if "would" in line] == ["would save schema: table orders (if it changed)"]
    make_table("keys", stream="KEYS_ONLY")
    for tables in (["orders", "keys"], ["orders", "nosuch"]):
        wl, cfg = write_files(tmp_path, config, tables)
        code, out, _ = cli("provision", wl, "--config", cfg, "--dry-run")
        assert code == 1 and ("keys: not protectable" in out or "nosuch: missing" in out), out


def test_deprovision_dry_run_exits_0_when_it_can_be_applied_else_1(
    aws: Clients, config: Config, make_table: Callable[..., str], tmp_path: Path, refuse: Callable[[str, str], None]
) -> None:
    make_table("orders")
    wl, cfg = write_files(tmp_path, config, ["orders"])
    assert cli("provision", wl, "--config", cfg)[0] == 0
    code, out, _ = cli("deprovision", wl, "--config", cfg, "--dry-run")
    assert code == 0 and "would mark draining: delivery stream orders of table orders" in out
    assert "orders: draining (mark_draining)" in out
    tags = aws.firehose.list_tags_for_delivery_stream(DeliveryStreamName="orders")["Tags"]
    assert naming.TAG_DRAINING not in {t["Key"] for t in tags}  # nothing changed
    refuse("ListEventSourceMappings", "AccessDeniedException")
    code, out, _ = cli("deprovision", wl, "--config", cfg, "--dry-run")
    assert code == 1 and "orders: failed" in out and "AccessDeniedException" in out


def test_deploy_dry_run_exits_0_when_it_can_be_applied_else_1(
    aws: Clients, tmp_path: Path, refuse: Callable[[str, str], None]
) -> None:
    path = tmp_path / "config.hjson"
    path.write_text(json.dumps({"firehoseDeliveryBucket": BUCKET}))
    code, out, _ = cli("deploy", "--config", str(path), "--dry-run")
    assert code == 0 and "would create bucket: backup-bucket" in out
    assert aws.s3.list_buckets()["Buckets"] == []
    refuse("HeadBucket", "403")  # the bucket name is another account's
    code, out, err = cli("deploy", "--config", str(path), "--dry-run")
    assert code == 1 and "belongs to another account" in err
