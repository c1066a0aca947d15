"""`estimate` on the emulator: a table of known size and write rate costs the hand-computed
figure; an unknown table is one line and exit 3; denied CloudWatch degrades to the description
and says so; the delivery-stream quota line, which `provision --dry-run` prints too."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from moto.cloudwatch.models import CloudWatchBackend

from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.config import Config

from ..fakes import MotoFault, MotoTableSize
from ..helpers import cli, delivery_stream, files

GB = 1024**3
MONTH = 30 * 86400
WEEK = 7 * 86400
QUOTA = (
    "Firehose delivery streams: {used} of 5000 used (quota from the documented default for us-east-1: "
    "Service Quotas answered NoSuchResourceException); {fit} more tables fit"
)


def orders(aws: Clients, make_table: Callable[..., str], monkeypatch: pytest.MonkeyPatch) -> None:
    """100 items of 3,000 bytes (moto reports no size: set), 6 write units a second for a week."""
    make_table("orders")
    for i in range(100):
        aws.dynamodb.put_item(TableName="orders", Item={"pk": {"S": f"k{i}"}})
    MotoTableSize(monkeypatch, 300_000)
    now = time.time()
    dimension = [{"Name": "TableName", "Value": "orders"}]
    aws.get("cloudwatch").put_metric_data(
        Namespace="AWS/DynamoDB",
        MetricData=[
            {"MetricName": "ConsumedWriteCapacityUnits", "Dimensions": dimension, "Timestamp": now - t, "Value": v}
            for t, v in ((3600, WEEK * 2.0), (3 * 86400, WEEK * 4.0), (9 * 86400, 1e9))  # the last: too old
        ],
    )


def test_a_table_of_known_size_and_write_rate_costs_the_hand_computed_figure(
    aws: Clients, config: Config, make_table: Callable[..., str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    orders(aws, make_table, monkeypatch)
    _, path = files(tmp_path, config, "{}")
    code, out, err = cli("estimate", "orders", "--config", path, "--json")
    assert (code, err) == (0, ""), err
    [table] = json.loads(out)["tables"]
    # 6 units a second of 3,000-byte items (3 units a write): 2 writes a second
    assert (table["writesPerSecond"], table["writeRateSource"]) == (2.0, "CloudWatch, last 7 days")
    changes = 2 * MONTH
    record = 2 * 3000 + 300  # 6,300 bytes: Firehose bills 10 KB
    lambda_ = changes / 1e6 * 0.20 + changes * (0.1 + 0.00001) * 0.0000166667  # one record an invocation
    firehose = changes * 10240 / GB * 0.029
    stored = 12 * changes * record * 0.2 / GB + (1 + 12 * 30) * 300_000 * 0.2 / GB
    puts = MONTH / 1 + 30  # the config flushes every second (interval 0), plus a base a day
    cost = table["monthlyCost"]
    assert cost["streamReads"] == 0
    assert cost["lambda"] == pytest.approx(lambda_)
    assert cost["firehose"] == pytest.approx(firehose)
    assert cost["s3Storage"] == pytest.approx(stored * 0.023)
    assert cost["s3Puts"] == pytest.approx(puts / 1000 * 0.005)
    assert cost["total"] == pytest.approx(lambda_ + firehose + stored * 0.023 + puts / 1000 * 0.005)  # $19.29
    assert table["pitrMonthlyCost"] == pytest.approx(300_000 / GB * 0.20)


def test_text_output_is_a_table_with_notes_the_quota_line_and_the_prices(
    aws: Clients, config: Config, make_table: Callable[..., str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    orders(aws, make_table, monkeypatch)
    make_table("idle")
    delivery_stream(aws, config, "someone-elses")  # every delivery stream counts against the quota
    prices = tmp_path / "prices.hjson"
    prices.write_text("{pitrPerGbMonth: 1000}")
    _, path = files(tmp_path, config, "{}", tableNameExcludeRegex="scratch")
    make_table("scratch-1")  # not opted in: not estimated without names
    code, out, err = cli("estimate", "--config", path, "--prices", str(prices))
    assert (code, err) == (0, ""), err
    lines = out.splitlines()
    header = "TABLE SIZE WRITES/S WRITE RATE FROM LAMBDA FIREHOSE S3 TOTAL/MONTH PITR/MONTH"
    assert " ".join(lines[0].split()) == header
    assert [line.split()[0] for line in lines[1:4]] == ["orders", "idle", "total"]
    assert lines[1].endswith("$0.28")  # PITR of 300,000 bytes at $1,000 per GB-month: the file's price
    assert "note: idle: unknown write rate, assumed 0: pass --writes-per-second N" in lines
    assert QUOTA.format(used=1, fit=4999) in lines
    assert f"prices: the file {prices} (docs/cost.md); stream reads by Lambda are free" in lines


def test_retention_days_and_the_components_in_plain_numbers(
    aws: Clients, config: Config, make_table: Callable[..., str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    orders(aws, make_table, monkeypatch)
    # the file's window (30 s) and retention (7 days); the flags give the rate and PITR's 35 days
    _, path = files(tmp_path, config, "{}", streamsBatchingWindowSeconds=30, changeRetentionDays=7)
    code, out, err = cli(
        "estimate", "orders", "--config", path, "--writes-per-second", "1000", "--retention-days", "35"
    )
    assert (code, err) == (0, ""), err
    assert not re.search(r"\de[+-]\d", out), out  # never 1e+03
    rows = out.splitlines()
    assert rows[1].split()[3] == "1,000"
    # 3,000-byte items: 6,300-byte changes; 998 fit Lambda's 6 MiB payload: 2,597,194 invocations
    assert "orders: Lambda 2,597,194 invocations of 998 changes (a 30 s batching window)" in out
    assert "orders: Firehose 18,180,361 records" in out and "(1.003x after 5 KB rounding a record)" in out
    assert "changes kept 44 days: 35 of retention" in out
    _, document, _ = cli("estimate", "orders", "--config", path, "--writes-per-second", "1", "--json")
    [table] = json.loads(document)["tables"]
    assert (table["retentionDays"], table["s3ChangesKeptDays"], table["batchingWindowSeconds"]) == (7, 16, 30)
    assert table["s3BasesKept"] == 16  # a base a day, kept as long as the changes


def test_a_negative_retention_is_one_line_and_exit_2(aws: Clients, config: Config, tmp_path: Path) -> None:
    _, path = files(tmp_path, config, "{}")
    code, out, err = cli("estimate", "orders", "--config", path, "--retention-days", "-1")
    assert (code, out) == (2, "") and err.count("\n") == 1 and "--retention-days must be 0" in err, err


def test_an_unknown_table_is_one_line_and_exit_3(aws: Clients, config: Config, tmp_path: Path) -> None:
    _, path = files(tmp_path, config, "{}")
    code, out, err = cli("estimate", "nosuch", "--config", path)
    assert (code, out, err) == (3, "", "error: table nosuch does not exist: check the name and the region\n")


def test_denied_cloudwatch_degrades_to_the_description_and_says_so(
    aws: Clients, config: Config, make_table: Callable[..., str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    orders(aws, make_table, monkeypatch)
    MotoFault(monkeypatch, CloudWatchBackend, "get_metric_statistics", "AccessDenied", "not authorized")
    _, path = files(tmp_path, config, "{}")
    code, out, err = cli("estimate", "orders", "--config", path)
    assert (code, err) == (0, ""), err
    assert "note: orders: no permission to read CloudWatch (cloudwatch:GetMetricStatistics)" in out
    assert out.splitlines()[1].split()[1:5] == ["293.0", "KB", "0", "none"]  # on-demand: no rate in the description


def test_provision_dry_run_prints_the_quota_line(
    aws: Clients, config: Config, make_table: Callable[..., str], tmp_path: Path
) -> None:
    make_table("orders")
    delivery_stream(aws, config, "other")
    whitelist, path = files(tmp_path, config, '{tableNames: ["orders"]}')
    code, out, err = cli("provision", whitelist, "--config", path, "--dry-run")
    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[-2:] == [QUOTA.format(used=1, fit=4999), "dry run: nothing was changed"]
