"""EnsureDynamoBackup handler: CloudTrail events and the reconcile schedule, on moto."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest

from dynamo_continuous_backup import ensure_backup
from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.config import Config
from dynamo_continuous_backup.provisioning.events import handle
from dynamo_continuous_backup.provisioning.optin import OptIn
from dynamo_continuous_backup.provisioning.provisioner import Provisioner

from ..fakes import load_event


def run(event: dict, aws: Clients, config: Config, clock: Callable[[], float] | None = None) -> dict:
    provisioner = Provisioner(aws, config, clock=clock) if clock else Provisioner(aws, config)
    return handle(event, provisioner, OptIn.from_config(config, strict=False), aws)


def test_create_table_event_protects_an_opted_in_table(
    aws: Clients, config: Config, make_table: Callable[..., str]
) -> None:
    make_table("orders")
    out = run(load_event("cloudtrail-create-table.json"), aws, config)
    assert out["results"][0]["status"] == "protected"
    assert aws.firehose.list_delivery_streams()["DeliveryStreamNames"] == ["orders"]


def test_excluded_table_is_left_alone(aws: Clients, config: Config, make_table: Callable[..., str]) -> None:
    make_table("orders")
    out = run(load_event("cloudtrail-create-table.json"), aws, config.replace(table_name_exclude_regex="ord.*"))
    assert out["results"][0]["status"] == "excluded"
    assert aws.firehose.list_delivery_streams()["DeliveryStreamNames"] == []


def test_ten_concurrent_create_events_end_in_one_setup(
    aws: Clients, config: Config, make_table: Callable[..., str]
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    make_table("orders")
    event = load_event("cloudtrail-create-table.json")
    with ThreadPoolExecutor(10) as pool:
        outs = list(pool.map(lambda _: run(copy.deepcopy(event), aws, config), range(10)))
    assert {o["results"][0]["status"] for o in outs} == {"protected"}
    assert len(aws.lambda_.list_event_source_mappings()["EventSourceMappings"]) == 1


def test_reconcile_covers_missed_tables_and_finishes_removals(
    aws: Clients, config: Config, make_table: Callable[..., str]
) -> None:
    # GIVEN two tables whose CreateTable events were lost and a protected table whose DeleteTable event was lost
    make_table("missed-1")
    make_table("missed-2")
    make_table("gone")
    Provisioner(aws, config).ensure("gone")
    aws.dynamodb.delete_table(TableName="gone")  # its DeleteTable event was lost
    # WHEN the hourly reconcile runs, THEN the new tables are protected and the gone one drains
    now = [1000.0]
    out = run(load_event("scheduled.json"), aws, config, clock=lambda: now[0])
    status = {r["table"]: r["status"] for r in out["results"]}
    assert status == {"missed-1": "protected", "missed-2": "protected", "gone": "draining"}
    assert "gone" in aws.firehose.list_delivery_streams()["DeliveryStreamNames"]  # drained first
    # WHEN it runs an hour later, THEN the gone table's delivery stream is removed
    now[0] += 3600  # the next hourly run
    out = run(load_event("scheduled.json"), aws, config, clock=lambda: now[0])
    assert {r["table"]: r["status"] for r in out["results"]}["gone"] == "removed"
    assert sorted(aws.firehose.list_delivery_streams()["DeliveryStreamNames"]) == ["missed-1", "missed-2"]


def test_handler_reads_its_config_from_the_environment(
    aws: Clients, config: Config, make_table: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    make_table("orders")
    monkeypatch.setenv("DCB_CONFIG", config.to_json())
    out = ensure_backup.handler(load_event("cloudtrail-create-table.json"), None)
    assert out["results"][0]["status"] == "protected"


def test_broken_hook_fails_open_in_lambda(aws: Clients, config: Config, make_table: Callable[..., str]) -> None:
    make_table("orders")
    cfg = config.replace(opt_in_hook="tests.fakes:broken")
    assert run(load_event("cloudtrail-create-table.json"), aws, cfg)["results"][0]["status"] == "protected"
