"""The forwarder's embedded-metric-format lines: what CloudWatch alarms on, with no API call."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dynamo_continuous_backup import forwarder
from dynamo_continuous_backup.core.alarms import NAMESPACE, fleet_alarms
from dynamo_continuous_backup.core.config import Config

from ..fakes import FakeFirehose, client_error, first, stream_event
from ..helpers import make_forwarder


def metrics(out: str) -> dict[str, dict[str, Any]]:
    """The EMF documents on the function's output, by table, checked to be valid EMF."""
    found = {}
    for line in out.splitlines():
        doc = json.loads(line)
        [directive] = doc["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == NAMESPACE and directive["Dimensions"] == [["Table"], []]
        assert all(isinstance(doc[m["Name"]], int | float) for m in directive["Metrics"])
        found[doc["Table"]] = doc
    return found


def test_each_table_gets_its_counts_and_lag(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a batch of two tables' changes and a Firehose that drops the first call's records once
    event = stream_event("orders", 30)
    event["Records"] += stream_event("users", 10, seed=2)["Records"]
    firehose = FakeFirehose(reject=lambda call, position: call == 1)
    # WHEN the forwarder delivers it (retrying the failed records)
    assert forwarder.handler(event, None, make_forwarder(firehose)) == {"batchItemFailures": []}
    # THEN each table's line counts its records and retries, and says how far behind capture is
    found = metrics(capsys.readouterr().out)
    assert set(found) == {"orders", "users"}
    assert found["orders"]["RecordsForwarded"] == 30 and found["users"]["RecordsForwarded"] == 10
    assert found["orders"]["RecordsUndelivered"] == 0 and found["orders"]["Retries"] >= 1
    assert found["orders"]["LagSeconds"] > 0  # the sample records are from 2023


def test_a_failing_delivery_emits_the_metric_its_alarm_watches(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a delivery stream that is gone: nothing the forwarder does can deliver
    event = stream_event("orders", 12)
    firehose = FakeFirehose(fail=first(100, client_error("ResourceNotFoundException", "PutRecordBatch")))
    # WHEN the forwarder handles the batch
    response = forwarder.handler(event, None, make_forwarder(firehose))
    # THEN Lambda is told to retry, and the undelivered records are a metric, not only a log line
    assert response["batchItemFailures"]
    found = metrics(capsys.readouterr().out)
    assert found["orders"]["RecordsUndelivered"] == 12 and found["orders"]["RecordsForwarded"] == 0


def test_every_alarm_on_our_namespace_watches_a_metric_the_forwarder_emits(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN the fleet's alarms and the lines a failing forward writes
    watching = [
        a for a in fleet_alarms(Config("bucket"), "arn:aws:sns:us-east-1:123456789012:t") if a.namespace == NAMESPACE
    ]
    event = stream_event("orders", 3)
    forwarder.handler(
        event,
        None,
        make_forwarder(FakeFirehose(fail=first(100, client_error("ServiceUnavailableException", "PutRecordBatch")))),
    )
    [doc] = metrics(capsys.readouterr().out).values()
    # THEN each such alarm's metric is on the line, under a dimension set it names exactly
    assert watching
    for alarm in watching:
        assert (
            alarm.metric in doc
            and [k for k, _ in alarm.dimensions] in doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
        )
