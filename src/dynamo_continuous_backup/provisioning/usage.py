"""What `estimate` observes of a table: its size from DescribeTable and its write rate from
CloudWatch's ConsumedWriteCapacityUnits, falling back to the description (and saying so)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from ..core.aws import Clients, table_must_exist
from ..core.errors import AccessDeniedError
from .estimate import TableUsage

DAYS = 7  # the window the write rate is averaged over
WCU_BYTES = 1024  # one write capacity unit writes up to 1 KB


def writes_from_capacity(units_per_second: float, avg_item_bytes: float) -> float:
    """Writes a second from write capacity units a second: a write of an item of n KB takes n units."""
    return units_per_second / max(1, math.ceil(avg_item_bytes / WCU_BYTES))


def observe_usage(
    clients: Clients, table: str, writes_per_second: float | None = None, clock: Callable[[], float] = time.time
) -> TableUsage:
    """The table's usage; `writes_per_second` (a flag) replaces the observed rate."""
    with table_must_exist(table):
        desc = clients.dynamodb.describe_table(TableName=table)["Table"]
    size, items = int(desc.get("TableSizeBytes", 0)), int(desc.get("ItemCount", 0))
    avg = size / items if items else 0.0
    if writes_per_second is not None:
        return TableUsage(table, size, items, writes_per_second, "--writes-per-second")
    note = ""
    try:
        units = consumed_write_units(clients, table, clock())
    except AccessDeniedError:
        units = None
        note = "no permission to read CloudWatch (cloudwatch:GetMetricStatistics): write rate from the description"
    if units is not None:
        return TableUsage(table, size, items, writes_from_capacity(units, avg), f"CloudWatch, last {DAYS} days")
    return _from_description(table, size, items, avg, desc, note)


def _from_description(table: str, size: int, items: int, avg: float, desc: dict[str, Any], note: str) -> TableUsage:
    provisioned = int(desc.get("ProvisionedThroughput", {}).get("WriteCapacityUnits", 0) or 0)
    on_demand = desc.get("BillingModeSummary", {}).get("BillingMode") == "PAY_PER_REQUEST"
    if provisioned and not on_demand:
        # As if every provisioned unit were used: an upper bound of the rate.
        rate = writes_from_capacity(provisioned, avg)
        return TableUsage(table, size, items, rate, "provisioned capacity (upper bound)", note)
    unknown = "unknown write rate, assumed 0: pass --writes-per-second N"
    return TableUsage(table, size, items, 0.0, "none", f"{note}; {unknown}" if note else unknown)


def consumed_write_units(clients: Clients, table: str, now: float) -> float | None:
    """Mean ConsumedWriteCapacityUnits a second over the last DAYS days; None without data points."""
    answer = clients.get("cloudwatch").get_metric_statistics(
        Namespace="AWS/DynamoDB",
        MetricName="ConsumedWriteCapacityUnits",
        Dimensions=[{"Name": "TableName", "Value": table}],
        StartTime=now - DAYS * 86400,
        EndTime=now,
        Period=86400,
        Statistics=["Sum"],
    )
    points = answer.get("Datapoints", [])
    if not points:
        return None
    return sum(float(p["Sum"]) for p in points) / (DAYS * 86400)
