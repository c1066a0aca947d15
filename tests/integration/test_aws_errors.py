"""Unexpected AWS errors in provision/status/deploy: one line per table with the code and the fix,
a summary naming what was left undone, and tracebacks only with --debug."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.client import BaseClient

from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.config import Config

from ..fakes import client_error
from ..helpers import BUCKET, ROOT, cli, files

QUOTA = "Firehose delivery streams per Region"


def test_firehose_quota_is_one_line_per_table_naming_the_quota_and_the_fix(
    aws: Clients, config: Config, make_table: Callable[..., str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN 52 tables and moto's quota of 50 delivery streams per Region
    tables = [make_table(f"t{n:02d}") for n in range(52)]
    wl, cfg = files(tmp_path, config, "{provisionAll: true}")
    caplog.set_level(logging.INFO)  # what -v would show
    # WHEN all of them are provisioned (one at a time, so which ones fail is known)
    started = time.monotonic()
    code, out, err = cli("provision", wl, "--config", cfg, "--concurrency", "1")
    elapsed = time.monotonic() - started
    # THEN the first 50 are protected and each of the other two is one line naming the quota and the fix
    assert code == 1
    lines = out.splitlines()
    assert sum(f"{t}: protected" in out for t in tables[:50]) == 50
    failed = [line for line in lines if ": failed" in line]
    assert [line.split("] ")[1].split(":")[0] for line in failed] == ["t50", "t51"]
    for line in failed:
        assert "LimitExceededException" in line and QUOTA in line and "limit 50 in us-east-1" in line
        assert "Service Quotas" in line
    # AND the summary names the tables left unprotected and how to raise the quota, once
    assert "2 table(s) left unprotected: t50, t51" in out
    [fix] = [line for line in lines if line.startswith("to fix:")]
    assert "aws service-quotas request-service-quota-increase --service-code firehose" in fix
    assert "--region us-east-1" in fix and "console" in fix
    assert "Traceback" not in out + err + caplog.text and err == ""
    assert elapsed < 60, f"52 tables took {elapsed:.1f}s"

    # WHEN the script runs again with --debug, THEN the tracebacks are on stderr too
    proc = subprocess.run(
        [sys.executable, str(ROOT / "provision_tables.py"), wl, "--config", cfg, "--debug"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1 and "2 table(s) left unprotected: t50, t51" in proc.stdout
    assert proc.stderr.count("Traceback (most recent call last)") >= 2 and "LimitExceededException" in proc.stderr


def test_thin_scripts_take_debug(tmp_path: Path) -> None:
    (tmp_path / "c.hjson").write_text('{firehoseDeliveryBucket: "b", bogus: 1}')
    (tmp_path / "w.hjson").write_text('{tableNames: ["a"]}')
    for script, args in (
        ("provision_tables.py", [str(tmp_path / "w.hjson")]),
        ("deprovision_tables.py", [str(tmp_path / "w.hjson")]),
        ("deploy.py", []),
    ):
        proc = subprocess.run(
            [sys.executable, str(ROOT / script), *args, "--config", str(tmp_path / "c.hjson"), "--debug"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 2 and "unknown key 'bogus'" in proc.stderr and "Traceback" in proc.stderr, script


@pytest.fixture
def aws_refuses(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, str, str], None]:
    """Make AWS answer one operation with an error (moto does not enforce IAM for every service);
    every other call still goes to moto."""
    original = BaseClient._make_api_call

    def refuse(operation: str, code: str, message: str) -> None:
        def call(self: Any, name: str, params: dict[str, Any]) -> Any:
            if name == operation:
                raise client_error(code, name, 403, message)
            return original(self, name, params)

        monkeypatch.setattr(BaseClient, "_make_api_call", call)

    return refuse


def test_status_with_the_bucket_gone_is_one_line_per_table(
    aws: Clients, config: Config, make_table: Callable[..., str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for t in ("orders", "customers"):
        make_table(t)
    wl, cfg = files(tmp_path, config, '{tableNames: ["orders", "customers"]}')
    assert cli("provision", wl, "--config", cfg)[0] == 0
    # GIVEN the backup bucket was deleted behind our back
    for page in aws.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for obj in page.get("Contents", []):
            aws.s3.delete_object(Bucket=BUCKET, Key=obj["Key"])
    aws.s3.delete_bucket(Bucket=BUCKET)
    caplog.set_level(logging.INFO)
    code, out, err = cli("status", "--config", cfg)
    # THEN each table's row names the error and what to do, and the exit is non-zero
    rows = [line for line in out.splitlines() if line.startswith(("orders", "customers"))]
    assert code == 1 and len(rows) == 2, out + err
    for row in rows:
        assert "NO: NoSuchBucket from ListObjectsV2" in row and "firehoseDeliveryBucket" in row
    assert "Traceback" not in out + err + caplog.text


def test_deploy_without_an_iam_permission_is_one_line(
    aws: Clients, tmp_path: Path, aws_refuses: Callable[[str, str, str], None], caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "config.hjson"
    path.write_text(json.dumps({"firehoseDeliveryBucket": BUCKET, "firehoseDeliveryPrefix": "backups"}))
    # GIVEN an identity that may not create IAM roles
    aws_refuses(
        "CreateRole",
        "AccessDenied",
        "User: arn:aws:iam::123456789012:user/ops is not authorized to "
        "perform: iam:CreateRole on resource: arn:aws:iam::123456789012:role/dynamo-backup-provisioner",
    )
    caplog.set_level(logging.INFO)
    code, out, err = cli("deploy", "--config", str(path))
    # THEN one line names the code, the call, the permission and what to do
    [line] = err.splitlines()
    assert code == 1 and line.startswith("error: AccessDenied from CreateRole")
    assert "iam:CreateRole" in line and "grant the identity running this" in line
    assert "Traceback" not in out + err + caplog.text
