"""EnsureDynamoBackup's event parsing: which table and action each event names."""

from __future__ import annotations

from datetime import datetime

import pytest

from dynamo_continuous_backup.provisioning.events import parse_event

from ..fakes import load_event


@pytest.mark.parametrize(
    ("event", "action", "table"),
    [
        ("cloudtrail-create-table.json", "ensure", "orders"),
        ("cloudtrail-delete-table.json", "remove", "orders"),
        ("cloudtrail-update-table.json", "ensure", "orders"),
        ("cloudtrail-restore-from-backup.json", "ensure", "orders-restored"),
        ("cloudtrail-restore-to-pitr.json", "ensure", "orders-pitr"),
        ("cloudtrail-import-table.json", "ensure", "orders-imported"),
        ("scheduled.json", "reconcile", ""),
        ("cloudtrail-create-table-failed.json", "ignore", ""),
    ],
)
def test_table_name_comes_from_the_right_field(event: str, action: str, table: str) -> None:
    parsed = parse_event(load_event(event))
    assert (parsed.action, parsed.table) == (action, table)


def test_table_arn_in_request_is_accepted() -> None:
    event = load_event("cloudtrail-create-table.json")
    event["detail"]["requestParameters"]["tableName"] = "arn:aws:dynamodb:us-east-1:1:table/orders"
    assert parse_event(event).table == "orders"


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"detail-type": "Object Created"},
        {"detail-type": "AWS API Call via CloudTrail", "detail": {"eventSource": "s3.amazonaws.com"}},
    ],
)
def test_unknown_events_are_ignored_with_a_reason(event: dict) -> None:
    assert parse_event(event).action == "ignore" and parse_event(event).reason


def test_the_calls_time_comes_with_it() -> None:
    # The moment of an UpdateTable that turned the stream off ends that generation's capture.
    parsed = parse_event(load_event("cloudtrail-update-table.json"))
    when = load_event("cloudtrail-update-table.json")["detail"]["eventTime"]
    assert parsed.at == datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp()
    assert parse_event(load_event("scheduled.json")).at is None


def test_only_calls_that_stop_capture_carry_a_time_that_ends_a_generation() -> None:
    # An enabling UpdateTable's time is when a stream began, not when one stopped.
    enabled = load_event("cloudtrail-update-table.json")
    enabled["detail"]["requestParameters"]["streamSpecification"] = {
        "streamEnabled": True,
        "streamViewType": "KEYS_ONLY",
    }
    assert parse_event(load_event("cloudtrail-update-table.json")).stops
    assert parse_event(load_event("cloudtrail-delete-table.json")).stops
    assert not parse_event(enabled).stops
    assert not parse_event(load_event("cloudtrail-create-table.json")).stops
