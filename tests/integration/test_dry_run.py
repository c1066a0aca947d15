"""--dry-run: the printing executor's output, and one exit rule for deploy, provision and
deprovision (0: the plan can be applied, changes or not; 1: some table or resource cannot be)."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any, get_args

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from dynamo_continuous_backup.cli.base import DRY_RUN_HELP, UI
from dynamo_continuous_backup.cli.main import main
from dynamo_continuous_backup.core import naming
from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.config import Config
from dynamo_continuous_backup.install.steps import CreateFunction, DeployStep, PutTarget
from dynamo_continuous_backup.provisioning.steps import (
    CreateMapping,
    EnableStream,
    MarkDraining,
    PrintingExecutor,
    SaveSchema,
    Step,
    TableStep,
)

from ..helpers import BUCKET, cli

SECRET = "s3cr3t-4111111111111111"


def sample(kind: type[Step]) -> Step:
    """A step of that kind whose dict fields (policies, settings, environments) hold a secret."""
    values: dict[str, Any] = {}
    for f in fields(kind):  # type: ignore[arg-type]
        kind_of = str(f.type)
        values[f.name] = (
            {"Variables": {"DCB_CONFIG": SECRET}}
            if "dict" in kind_of
            else ("u1", "u2")
            if "tuple" in kind_of
            else 1.5
            if kind_of == "float"
            else f"{f.name}-x"
        )
    return kind(**values)


def test_every_step_kind_is_one_line_naming_its_action_and_never_its_data() -> None:
    kinds = [*get_args(TableStep), *get_args(DeployStep)]
    assert len(kinds) == len({k.action for k in kinds}) == 33
    for kind in kinds:
        line = str(sample(kind))
        assert line.startswith(kind.action.replace("_", " ") + ": "), line
        assert "\n" not in line and SECRET not in line and "{" not in line, line


def test_the_printing_executor_prints_each_step_and_changes_nothing() -> None:
    out = io.StringIO()
    printer = PrintingExecutor(UI(out, out))
    steps: list[Step] = [
        EnableStream("orders", "NEW_AND_OLD_IMAGES"),
        CreateMapping("orders", None),
        MarkDraining("old", "old", 100.0),
        SaveSchema("orders"),
        CreateFunction("dynamo-backup-forwarder", {"Environment": {"Variables": {"DCB_CONFIG": SECRET}}}),
        PutTarget("dynamo-backup-reconcile", "arn:aws:lambda:us-east-1:1:function:dynamo-backup-ensure"),
    ]
    assert all(printer.apply(step) for step in steps) and printer.dry_run
    assert out.getvalue().splitlines() == [
        "would enable stream: table orders (NEW_AND_OLD_IMAGES)",
        "would create mapping: the new stream of table orders to the forwarder",
        "would mark draining: delivery stream old of table old",
        "would save schema: table orders (if it changed)",
        "would create function: dynamo-backup-forwarder",
        "would put target: dynamo-backup-reconcile",
    ]


class Trickle(io.StringIO):
    """A stream that lets other threads run in the middle of every write."""

    def write(self, text: str) -> int:
        for char in text:
            super().write(char)
            time.sleep(0)
        return len(text)


def test_lines_printed_from_many_threads_stay_whole() -> None:
    out = Trickle()
    ui = UI(out, out)
    written = [f"would create delivery stream: t{n} for table t{n}" for n in range(8)]
    threads = [threading.Thread(target=lambda t=text: [ui.line(t) for _ in range(20)]) for text in written]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(set(out.getvalue().splitlines())) == sorted(written)


def test_every_dry_run_states_the_one_exit_rule(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("deploy", "provision", "deprovision"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert DRY_RUN_HELP in " ".join(capsys.readouterr().out.split()), command


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
