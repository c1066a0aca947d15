"""What alarms and `status` read, on the emulator: the metrics Lambda, CloudWatch Logs (EMF)
and Firehose publish for the deployed functions, and `status`'s lag, delivery error and --watch."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.config import Config
from dynamo_continuous_backup.local import LocalRuntime
from dynamo_continuous_backup.provisioning.status import fleet_status

from ..fakes import Failing, MotoFault, client_error, clients_with
from ..helpers import cli, one_module_zip


def datapoints(aws: Clients, namespace: str, metric: str, stat: str, **dimensions: str) -> list[float]:
    """The metric's values per minute over the last 15 minutes, as an alarm would read them."""
    now = datetime.now(UTC)
    answer = aws.cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName=metric,
        Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
        StartTime=now - timedelta(minutes=15),
        EndTime=now + timedelta(minutes=1),
        Period=60,
        Statistics=[stat],
    )
    return [p[stat] for p in answer["Datapoints"]]


def protected_table(deployed: tuple[Config, LocalRuntime], make_table: Callable[..., str], name: str) -> None:
    _, runtime = deployed
    make_table(name)
    runtime.settle()  # CreateTable -> the ensure function protects it


def write(aws: Clients, table: str, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        aws.dynamodb.put_item(TableName=table, Item={"pk": {"S": f"k{i}"}, "v": {"N": str(i)}})


def test_a_forward_publishes_lambdas_firehoses_and_the_forwarders_own_metrics(
    deployed: tuple[Config, LocalRuntime], aws: Clients, make_table: Callable[..., str], config_path: str
) -> None:
    # GIVEN a protected table
    config, runtime = deployed
    protected_table(deployed, make_table, "orders")
    # WHEN 5 writes are forwarded by the deployed forwarder
    write(aws, "orders", 5)
    runtime.settle()
    # THEN CloudWatch holds the forwarder's EMF metrics for the table ...
    fwd = config.forwarder_function_name
    assert sum(datapoints(aws, "DynamoContinuousBackup", "RecordsForwarded", "Sum", Table="orders")) == 5
    assert datapoints(aws, "DynamoContinuousBackup", "RecordsUndelivered", "Sum", Table="orders") == [0.0]
    [lag] = datapoints(aws, "DynamoContinuousBackup", "LagSeconds", "Maximum", Table="orders")
    assert 0 <= lag < 60
    # ... Lambda's for the invocation ...
    assert sum(datapoints(aws, "AWS/Lambda", "Invocations", "Sum", FunctionName=fwd)) >= 1
    assert datapoints(aws, "AWS/Lambda", "Errors", "Sum", FunctionName=fwd) == [0.0]
    assert datapoints(aws, "AWS/Lambda", "IteratorAge", "Maximum", FunctionName=fwd)
    assert datapoints(aws, "AWS/Lambda", "Duration", "Maximum", FunctionName=fwd)[0] > 0
    # ... and Firehose's for the delivery
    assert datapoints(aws, "AWS/Firehose", "DeliveryToS3.Success", "Minimum", DeliveryStreamName="orders") == [1.0]
    # AND status shows the lag and no delivery error
    code, out, _ = cli("status", "--config", config_path, "--json")
    row = {r["table"]: r for r in json.loads(out)}["orders"]
    assert row["lag_seconds"] == lag and row["delivery_error"] is None and row["metrics_note"] is None


def test_a_functions_emf_lines_are_metrics_once_its_invocation_returns(
    aws: Clients, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "dynamo_continuous_backup.local.workers")  # every line is logged, as in `local`
    # GIVEN any function writing a pipe's worth of output at once, then an EMF document with two
    # dimension sets
    source = (
        "import json, sys, time\n"
        "def handler(event, context):\n"
        "    sys.stdout.write(''.join(f'log line {i}\\n' for i in range(6000)))  # one write: the pipe is full\n"
        "    doc = {'_aws': {'Timestamp': int(time.time() * 1000), 'CloudWatchMetrics': [{'Namespace': 'App',"
        " 'Dimensions': [['Shop'], []], 'Metrics': [{'Name': 'Orders', 'Unit': 'Count'}]}]},"
        " 'Shop': 'x', 'Orders': 7}\n"
        "    print(json.dumps(doc))\n"
    )
    role = aws.iam.create_role(RoleName="r-emf", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    aws.lambda_.create_function(
        FunctionName="emf",
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": one_module_zip("app", source)},
    )
    runtime = LocalRuntime(aws)
    # WHEN it is invoked, and what was published by then is flushed
    runtime.invoke("emf", {})
    assert runtime.metrics.flush()
    # THEN its whole output was read (logged) and: the metric is there, once per dimension set
    assert datapoints(aws, "App", "Orders", "Sum", Shop="x") == [7.0]
    assert sum(r.getMessage().startswith("log line") for r in caplog.records) == 6000
    metrics = aws.cloudwatch.list_metrics(Namespace="App", MetricName="Orders")["Metrics"]
    assert sorted([(d["Name"], d["Value"]) for d in m.get("Dimensions", [])] for m in metrics) == [[], [("Shop", "x")]]
    assert datapoints(aws, "AWS/Lambda", "Invocations", "Sum", FunctionName="emf") == [1.0]


def test_a_forwarder_that_times_out_raises_the_lambda_errors_alarm_metric(
    deployed: tuple[Config, LocalRuntime], aws: Clients, make_table: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.firehose.models import FirehoseBackend

    # GIVEN a protected table whose forwarder has a 1 s timeout and a warm worker
    config, runtime = deployed
    fwd = config.forwarder_function_name
    aws.lambda_.update_function_configuration(FunctionName=fwd, Timeout=1)
    protected_table(deployed, make_table, "orders")
    write(aws, "orders", 1)
    runtime.settle()
    assert datapoints(aws, "AWS/Lambda", "Errors", "Sum", FunctionName=fwd) == [0.0]
    # WHEN Firehose hangs longer than that (a stalled endpoint) and a batch arrives
    hanging = FirehoseBackend.put_record_batch

    def stalled(self: Any, *args: Any, **kwargs: Any) -> Any:
        time.sleep(3)
        return hanging(self, *args, **kwargs)

    monkeypatch.setattr(FirehoseBackend, "put_record_batch", stalled)
    write(aws, "orders", 1, start=1)
    runtime.step_streams()  # Lambda kills the invocation at its timeout: a function error
    assert runtime.metrics.flush()
    # THEN the metric the forwarder's error alarm watches has a datum of at least 1
    assert max(datapoints(aws, "AWS/Lambda", "Errors", "Sum", FunctionName=fwd)) >= 1
    assert max(datapoints(aws, "AWS/Lambda", "Duration", "Maximum", FunctionName=fwd)) >= 1000


def test_undelivered_records_are_the_tables_delivery_error_in_status(
    deployed: tuple[Config, LocalRuntime], aws: Clients, make_table: Callable[..., str], config_path: str
) -> None:
    # GIVEN a protected table whose delivery stream was deleted by someone
    _, runtime = deployed
    protected_table(deployed, make_table, "orders")
    aws.firehose.delete_delivery_stream(DeliveryStreamName="orders")
    # WHEN 3 writes reach the forwarder
    write(aws, "orders", 3)
    runtime.step_streams()
    assert runtime.metrics.flush()
    # THEN the forwarder's EMF says so, and status names it as the table's delivery error
    assert sum(datapoints(aws, "DynamoContinuousBackup", "RecordsUndelivered", "Sum", Table="orders")) == 3
    code, out, _ = cli("status", "--config", config_path)
    [line] = [x for x in out.splitlines() if x.startswith("orders ")]
    assert "3 records undelivered in the last 15 min" in line and code == 1


def test_status_without_cloudwatch_permission_shows_lag_unknown_and_why(
    deployed: tuple[Config, LocalRuntime],
    aws: Clients,
    make_table: Callable[..., str],
    config_path: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from moto.cloudwatch.models import CloudWatchBackend

    config, _ = deployed
    protected_table(deployed, make_table, "orders")
    protected_table(deployed, make_table, "users")
    # GIVEN an identity that may not read CloudWatch
    MotoFault(monkeypatch, CloudWatchBackend, "get_metric_data", "AccessDenied", "not authorized: GetMetricData")
    # WHEN status runs: THEN it works, shows the lag as unknown and says why once, with no traceback
    code, out, err = cli("status", "--config", config_path)
    assert code == 0 and err == "", err
    rows = [x for x in out.splitlines() if x.startswith(("orders ", "users "))]
    assert len(rows) == 2 and all(" unknown " in x for x in rows)
    notes = [x for x in out.splitlines() if x.startswith("note:")]
    assert len(notes) == 1 and "AccessDenied" in notes[0] and "Traceback" not in out
    # AND the same through the facade's typed error, in --json's fields
    denied = client_error("AccessDeniedException", "GetMetricData", 400, "no cloudwatch:GetMetricData")
    clients = clients_with(aws, cloudwatch=Failing(aws.get("cloudwatch"), "get_metric_data", denied))
    row = {r.table: r for r in fleet_status(clients, config)}["orders"]
    assert row.lag_seconds is None and row.protected and "AccessDeniedException" in (row.metrics_note or "")


def test_status_watch_renders_again_until_stopped(
    deployed: tuple[Config, LocalRuntime], make_table: Callable[..., str], config_path: str
) -> None:
    protected_table(deployed, make_table, "orders")
    code, out, _ = cli("status", "--config", config_path, "--watch", "0.01", "--watch-count", "3")
    assert code == 0
    assert out.count("Ctrl-C to stop") == 3 and len([x for x in out.splitlines() if x.startswith("orders ")]) == 3
