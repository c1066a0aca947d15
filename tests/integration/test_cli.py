"""provision_tables.py / deprovision_tables.py / status, driven through the CLI's main()."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.config import Config

from ..helpers import ROOT, cli, files


def test_provision_whitelist_then_status(
    aws: Clients, config: Config, make_table: Callable[..., str], tmp_path: Path
) -> None:
    for t in ("orders", "customers", "scratch"):
        make_table(t)
    wl, cfg = files(tmp_path, config, '{tableNames: ["orders", "customers"]}')
    code, out, _ = cli("provision", wl, "--config", cfg)
    assert code == 0, out
    assert "orders: protected" in out and "2 tables provisioned: 2 protected" in out
    code, out, _ = cli("status", "--config", cfg, "--json")
    rows = {r["table"]: r for r in json.loads(out)}
    assert rows["orders"]["protected"] and rows["customers"]["mapping_state"] == "Enabled"
    assert not rows["scratch"]["protected"] and code == 1  # opted in by '.*' but not provisioned
    code, out, _ = cli("status", "--config", cfg)
    assert "NO: needs enable_stream" in out


def test_provision_all_respects_the_filter_and_dry_run_changes_nothing(
    aws: Clients, config: Config, make_table: Callable[..., str], tmp_path: Path
) -> None:
    for t in ("prod-a", "prod-b", "dev-c"):
        make_table(t)
    wl, cfg = files(tmp_path, config, "{provisionAll: true}", tableNameMatchRegex="prod-.*")
    code, out, _ = cli("provision", wl, "--config", cfg, "--dry-run")
    assert code == 0 and "planned (enable_stream" in out and "nothing was changed" in out
    assert aws.firehose.list_delivery_streams()["DeliveryStreamNames"] == []
    code, out, _ = cli("provision", wl, "--config", cfg)
    assert code == 0 and "dev-c: excluded" in out
    assert sorted(aws.firehose.list_delivery_streams()["DeliveryStreamNames"]) == ["prod-a", "prod-b"]
    code, out, _ = cli("status", "--config", cfg)
    assert code == 0  # dev-c is not opted in, so it does not count


def test_unprotectable_or_missing_table_exits_non_zero(
    aws: Clients, config: Config, make_table: Callable[..., str], tmp_path: Path
) -> None:
    make_table("keys", stream="KEYS_ONLY")
    wl, cfg = files(tmp_path, config, '{tableNames: ["keys", "nosuch"]}')
    code, out, _ = cli("provision", wl, "--config", cfg)
    assert code == 1
    assert "keys: not protectable" in out and "KEYS_ONLY" in out and "nosuch: missing" in out


def test_deprovision_keeps_backups(
    aws: Clients, config: Config, make_table: Callable[..., str], tmp_path: Path
) -> None:
    make_table("orders")
    wl, cfg = files(tmp_path, config, '{tableNames: ["orders"]}', firehoseDeliveryIntervalSeconds=0, drainSeconds=0)
    assert cli("provision", wl, "--config", cfg)[0] == 0
    code, out, _ = cli("deprovision", wl, "--config", cfg, "--dry-run")
    assert code == 0 and "mark_draining" in out and aws.firehose.list_delivery_streams()["DeliveryStreamNames"]
    code, out, _ = cli("deprovision", wl, "--config", cfg, "--no-wait")
    assert code == 1 and "orders: draining" in out  # not removed yet: exit says so


@pytest.mark.parametrize(
    ("whitelist", "message"),
    [
        ('{tables: ["a"]}', "unknown key 'tables'"),
        ('{provisionAll: "yes"}', "'provisionAll' must be true or false"),
        ("{}", "lists no tables"),
        ("{tableNames: [a,", "malformed hjson at line"),
    ],
)
def test_bad_whitelist_is_one_line(config: Config, tmp_path: Path, whitelist: str, message: str) -> None:
    wl, cfg = files(tmp_path, config, whitelist)
    code, out, err = cli("provision", wl, "--config", cfg)
    assert code == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err


def test_top_level_script_runs_without_install(tmp_path: Path) -> None:
    (tmp_path / "c.hjson").write_text('{firehoseDeliveryBucket: "b", bogus: 1}')
    (tmp_path / "w.hjson").write_text('{tableNames: ["a"]}')
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "provision_tables.py"),
            str(tmp_path / "w.hjson"),
            "--config",
            str(tmp_path / "c.hjson"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "unknown key 'bogus'" in proc.stderr and "Traceback" not in proc.stderr
