"""EventBridge emulation: event-pattern matching, CloudTrail-shaped table events, schedules."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..core.errors import AwsNotFoundError


def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """EventBridge content matching for the subset rules use: value lists, nesting, prefix,
    exists and anything-but."""
    for key, want in pattern.items():
        present = key in event
        value = event.get(key)
        if isinstance(want, dict):
            if not isinstance(value, dict) or not matches(want, value):
                return False
            continue
        values = value if isinstance(value, list) else [value]
        if not any(_match_one(w, v, present) for w in want for v in values):
            return False
    return True


def _match_one(want: Any, value: Any, present: bool) -> bool:
    if not isinstance(want, dict):
        return present and want == value
    if "exists" in want:
        return bool(want["exists"]) == present
    if "prefix" in want:
        return isinstance(value, str) and value.startswith(want["prefix"])
    if "anything-but" in want:
        excluded = want["anything-but"]
        return present and value not in (excluded if isinstance(excluded, list) else [excluded])
    return False


def rate_seconds(expression: str) -> float | None:
    """Seconds between runs of `rate(N unit)`; None for cron (fired only on demand)."""
    m = re.fullmatch(r"rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)", expression.strip())
    if not m:
        return None
    unit = {"minute": 60, "hour": 3600, "day": 86400}[m.group(2).rstrip("s")]
    return int(m.group(1)) * unit


@dataclass(frozen=True)
class TableState:
    stream_view_type: str | None
    restored: bool = False


def table_states(dynamodb: Any) -> dict[str, TableState]:
    states = {}
    for page in dynamodb.get_paginator("list_tables").paginate():
        for name in page["TableNames"]:
            try:
                desc = dynamodb.describe_table(TableName=name)["Table"]
            except AwsNotFoundError:
                continue  # deleted between the list and the describe
            spec = desc.get("StreamSpecification") or {}
            states[name] = TableState(
                spec.get("StreamViewType") if spec.get("StreamEnabled") else None, "RestoreSummary" in desc
            )
    return states


def lifecycle_events(
    before: dict[str, TableState], after: dict[str, TableState], account: str, region: str
) -> list[dict[str, Any]]:
    """The CloudTrail events AWS would have emitted between two observations of the tables."""
    events = []
    for name in sorted(after.keys() - before.keys()):
        if after[name].restored:
            events.append(cloudtrail("RestoreTableFromBackup", {"targetTableName": name}, account, region))
        else:
            events.append(cloudtrail("CreateTable", {"tableName": name}, account, region))
    for name in sorted(before.keys() - after.keys()):
        events.append(cloudtrail("DeleteTable", {"tableName": name}, account, region))
    for name in sorted(before.keys() & after.keys()):
        if before[name].stream_view_type != after[name].stream_view_type:
            spec = {"streamEnabled": after[name].stream_view_type is not None}
            if after[name].stream_view_type:
                spec["streamViewType"] = after[name].stream_view_type  # type: ignore[assignment]
            events.append(cloudtrail("UpdateTable", {"tableName": name, "streamSpecification": spec}, account, region))
    return events


def _envelope(
    detail_type: str, source: str, account: str, region: str, detail: dict[str, Any], resources: list[str]
) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": now,
        "region": region,
        "resources": resources,
        "detail": detail,
    }


def cloudtrail(call: str, params: dict[str, Any], account: str, region: str) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    detail = {
        "eventVersion": "1.08",
        "eventTime": now,
        "eventSource": "dynamodb.amazonaws.com",
        "eventName": call,
        "awsRegion": region,
        "sourceIPAddress": "127.0.0.1",
        "userAgent": "dynamo-backup-local",
        "requestParameters": params,
        "responseElements": None,
        "requestID": str(uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
    }
    return _envelope("AWS API Call via CloudTrail", "aws.dynamodb", account, region, detail, [])


def scheduled(rule_arn: str, account: str, region: str) -> dict[str, Any]:
    return _envelope("Scheduled Event", "aws.events", account, region, {}, [rule_arn])
