"""Removal drains by consumption (docs/design.md section 9): an outage across DeleteTable loses nothing."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from moto.firehose.models import FirehoseBackend

from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.config import Config
from dynamo_continuous_backup.local import LocalRuntime

from ..fakes import MotoFault
from ..helpers import s3_records


def our_mappings(aws: Clients, config: Config) -> list[dict[str, Any]]:
    answer = aws.lambda_.list_event_source_mappings(FunctionName=config.forwarder_function_name)
    return list(answer["EventSourceMappings"])


def test_a_firehose_outage_spanning_the_drain_time_loses_no_change(
    deployed: tuple[Config, LocalRuntime],
    aws: Clients,
    make_table: Callable[..., str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config, runtime = deployed  # drainSeconds = 1
    # A short forwarder timeout keeps each failing invocation (retrying until its deadline) short.
    aws.lambda_.update_function_configuration(FunctionName=config.forwarder_function_name, Timeout=3)
    make_table("orders")
    runtime.settle()
    # GIVEN Firehose is down
    outage = MotoFault(
        monkeypatch, FirehoseBackend, "put_record_batch", "ServiceUnavailableException", "Firehose is unavailable"
    )
    # WHEN changes are made and the table is deleted during the outage, and the drain time passes
    for i in range(20):
        aws.dynamodb.put_item(TableName="orders", Item={"pk": {"S": f"k{i}"}})
    aws.dynamodb.delete_table(TableName="orders")
    runtime.settle()
    time.sleep(1.5)
    runtime.fire_schedules(force=True)  # the hourly reconcile, past drainSeconds, Firehose still down
    # THEN the mapping stays: its records are not in S3
    assert len(our_mappings(aws, config)) == 1
    assert aws.firehose.list_delivery_streams()["DeliveryStreamNames"] == ["orders"]
    assert s3_records(aws, "backups/orders/") == []
    # WHEN Firehose recovers
    outage.on = False
    runtime.settle()
    runtime.fire_schedules(force=True)
    # THEN every change reached S3, and only then were the mapping and delivery stream removed
    got = s3_records(aws, "backups/orders/")
    assert sorted({r["Keys"]["pk"]["S"] for r in got}) == sorted(f"k{i}" for i in range(20))
    assert our_mappings(aws, config) == []
    assert aws.firehose.list_delivery_streams()["DeliveryStreamNames"] == []
