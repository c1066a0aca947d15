"""The local runtime's CloudWatch side: EMF extraction as CloudWatch Logs does it, Lambda's
per-invocation metrics, and the batching background publisher."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from dynamo_continuous_backup.capture.forwarder import Outcome, TableOutcome
from dynamo_continuous_backup.capture.metrics import emf_lines
from dynamo_continuous_backup.local.cloudwatch import (
    MetricPublisher,
    batches,
    emf_metrics,
    invocation_metrics,
    iterator_age_ms,
)

NOW = 1_700_000_000.0


def by_name(metrics: list[tuple[str, dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for _, datum in metrics:
        out.setdefault(datum["MetricName"], []).append(datum)
    return out


def test_the_forwarders_lines_become_its_metrics_per_table() -> None:
    # GIVEN the EMF lines the forwarder writes for an invocation over two tables
    outcome = Outcome(tables={"orders": TableOutcome(10, 3, 2, 1, NOW - 4.5), "users": TableOutcome(5, 0, 0, 0, None)})
    lines = emf_lines(outcome, NOW)
    # WHEN CloudWatch Logs would read them
    found = [m for line in lines for m in emf_metrics(line)]
    # THEN every metric of each table is a datum in our namespace with its Table dimension
    assert {ns for ns, _ in found} == {"DynamoContinuousBackup"}
    data = by_name(found)
    orders = {d["MetricName"]: d for _, d in found if d["Dimensions"] == [{"Name": "Table", "Value": "orders"}]}
    assert orders["RecordsUndelivered"]["Value"] == 3 and orders["RecordsForwarded"]["Value"] == 7
    assert orders["LagSeconds"] == {
        "MetricName": "LagSeconds",
        "Dimensions": [{"Name": "Table", "Value": "orders"}],
        "Timestamp": datetime.fromtimestamp(NOW, UTC),
        "Unit": "Seconds",
        "Value": 4.5,
    }
    per_table = [d for d in data["LagSeconds"] if d["Dimensions"]]
    assert len(per_table) == 1  # the users' batch had no change time: no lag datum
    fleet = [d for d in data["LagSeconds"] if not d["Dimensions"]]
    assert [d["Value"] for d in fleet] == [4.5]  # and the fleet-wide datum, which the alarms read
    assert len(data["RecordsForwarded"]) == 4  # two tables, each per table and fleet-wide


def test_each_dimension_set_gives_one_datum_per_metric() -> None:
    doc = {
        "_aws": {
            "Timestamp": NOW * 1000,
            "CloudWatchMetrics": [
                {
                    "Namespace": "NS",
                    "Dimensions": [["Table"], [], ["Table", "Kind"]],
                    "Metrics": [{"Name": "A", "Unit": "Count"}, {"Name": "B"}, {"Name": "Hi", "StorageResolution": 1}],
                },
                {"Namespace": "Other", "Metrics": [{"Name": "A"}]},  # no Dimensions: one dimensionless datum
            ],
        },
        "Table": "t",
        "Kind": "k",
        "A": 2,
        "B": [1, 2.5, 3],
        "Hi": 7,
    }
    found = emf_metrics(json.dumps(doc))
    ns_a = [d for ns, d in found if ns == "NS" and d["MetricName"] == "A"]
    assert [d["Dimensions"] for d in ns_a] == [
        [{"Name": "Table", "Value": "t"}],
        [],
        [{"Name": "Table", "Value": "t"}, {"Name": "Kind", "Value": "k"}],
    ]
    assert all(d["Value"] == 2.0 and d["Unit"] == "Count" for d in ns_a)
    b = [d for ns, d in found if d["MetricName"] == "B"]
    assert len(b) == 3 and b[0]["Values"] == [1.0, 2.5, 3.0] and b[0]["Unit"] == "None"
    assert all(d["StorageResolution"] == 1 for ns, d in found if d["MetricName"] == "Hi")
    assert [(ns, d["Dimensions"], d["Value"]) for ns, d in found if ns == "Other"] == [("Other", [], 2.0)]


@pytest.mark.parametrize(
    "line",
    [
        "INFO:forwarder:forwarded 3/3 records",
        '{"not": "emf"}',
        '{"_aws": {"CloudWatchMetrics": "no list"}}',
        '{"_aws": {broken json',
        "[1, 2]",
    ],
)
def test_lines_that_are_not_emf_give_nothing(line: str) -> None:
    assert emf_metrics(line) == []


def test_invalid_metrics_and_dimension_sets_are_skipped_as_cloudwatch_does() -> None:
    doc = {
        "_aws": {
            "Timestamp": NOW * 1000,
            "CloudWatchMetrics": [
                {
                    "Namespace": "NS",
                    "Dimensions": [["Table"], ["Missing"], ["Number"]],
                    "Metrics": [{"Name": "Ok"}, {"Name": "Text"}, {"Name": "Flag"}, {"Name": "Absent"}],
                }
            ],
        },
        "Table": "t",
        "Number": 3,
        "Ok": 1,
        "Text": "1",
        "Flag": True,
    }
    found = emf_metrics(json.dumps(doc))
    assert [(d["MetricName"], d["Dimensions"]) for _, d in found] == [("Ok", [{"Name": "Table", "Value": "t"}])]


def test_lambda_metrics_of_an_invocation() -> None:
    when = datetime.fromtimestamp(NOW, UTC)
    ok = by_name(invocation_metrics("fwd", 12.5, False, 3000.0, when))
    assert ok["Invocations"][0]["Value"] == 1 and ok["Errors"][0]["Value"] == 0
    assert ok["Duration"][0]["Value"] == 12.5 and ok["Duration"][0]["Unit"] == "Milliseconds"
    assert ok["IteratorAge"][0]["Value"] == 3000.0
    assert ok["Errors"][0]["Dimensions"] == [{"Name": "FunctionName", "Value": "fwd"}]
    failed = by_name(invocation_metrics("ensure", 5.0, True, None, when))
    assert failed["Errors"][0]["Value"] == 1 and "IteratorAge" not in failed


def test_iterator_age_is_measured_from_the_newest_record() -> None:
    event = {"Records": [{"dynamodb": {"ApproximateCreationDateTime": NOW - t}} for t in (30, 5, 12)]}
    assert iterator_age_ms(event, NOW) == 5000.0
    assert iterator_age_ms({"detail-type": "Scheduled Event"}, NOW) is None
    assert iterator_age_ms({"Records": [{"dynamodb": {}}]}, NOW) is None
    assert iterator_age_ms({"Records": [{"dynamodb": {"ApproximateCreationDateTime": NOW + 2}}]}, NOW) == 0.0


def test_batches_hold_one_namespace_and_at_most_1000_data() -> None:
    metrics = [("A", {"MetricName": "m", "Value": i}) for i in range(2500)] + [("B", {"MetricName": "m", "Value": 0})]
    calls = batches(metrics)
    assert [(ns, len(data)) for ns, data in calls] == [("A", 1000), ("A", 1000), ("A", 500), ("B", 1)]


class RecordingCloudWatch:
    def __init__(self, fail_first: bool = False) -> None:
        self.calls: list[tuple[str, int]] = []
        self.fail_first = fail_first
        self.release = threading.Event()

    def put_metric_data(self, Namespace: str, MetricData: list[dict[str, Any]]) -> None:  # noqa: N803
        self.release.wait(5)
        self.calls.append((Namespace, len(MetricData)))
        if self.fail_first and len(self.calls) == 1:
            raise RuntimeError("CloudWatch down")


def test_put_does_not_wait_for_cloudwatch_and_flush_does() -> None:
    # GIVEN a CloudWatch that answers only when released
    cloudwatch = RecordingCloudWatch()
    publisher = MetricPublisher(cloudwatch, idle_seconds=0.2)
    # WHEN metrics are put: THEN put returns at once, and flush waits for the send
    publisher.put([("A", {"MetricName": "m", "Value": 1})] * 3)
    assert not publisher.flush(timeout=0.1) and cloudwatch.calls == []
    cloudwatch.release.set()
    assert publisher.flush(timeout=5)
    publisher.put([("B", {"MetricName": "m", "Value": 1})])
    assert publisher.flush(timeout=5)
    assert sum(n for _, n in cloudwatch.calls) == 4


def test_a_failed_send_is_logged_and_the_publisher_goes_on() -> None:
    cloudwatch = RecordingCloudWatch(fail_first=True)
    cloudwatch.release.set()
    publisher = MetricPublisher(cloudwatch, idle_seconds=0.2)
    publisher.put([("A", {"MetricName": "m", "Value": 1})])
    assert publisher.flush(timeout=5)
    publisher.put([("A", {"MetricName": "m", "Value": 2})])
    assert publisher.flush(timeout=5) and len(cloudwatch.calls) == 2
