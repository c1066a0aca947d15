"""The forwarder's metrics as CloudWatch embedded-metric-format (EMF) log lines: one JSON object
per table and invocation, which CloudWatch turns into metrics with no API call on the hot path.
Namespace `DynamoContinuousBackup`, per `Table` and fleet-wide (no dimension): an alarm watches
the fleet's `RecordsUndelivered` (core/alarms.py)."""

from __future__ import annotations

import json

from ..core.alarms import NAMESPACE
from .forwarder import Outcome

UNITS = {
    "RecordsForwarded": "Count",
    "RecordsUndelivered": "Count",
    "Retries": "Count",
    "OversizeRecords": "Count",
    "LagSeconds": "Seconds",
}


def emf_lines(outcome: Outcome, now: float) -> list[str]:
    """One EMF document per table of the invocation (`now`: epoch seconds)."""
    lines = []
    for table, t in sorted(outcome.tables.items()):
        values: dict[str, float] = {
            "RecordsForwarded": t.records - t.undelivered,
            "RecordsUndelivered": t.undelivered,
            "Retries": t.retries,
            "OversizeRecords": t.oversize,
        }
        if t.newest is not None:  # how far behind the stream's newest change capture is
            values["LagSeconds"] = max(0.0, round(now - t.newest, 3))
        document = {
            "_aws": {
                "Timestamp": int(now * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": NAMESPACE,
                        # per table, and once more without dimensions: the fleet's totals the alarms watch
                        "Dimensions": [["Table"], []],
                        "Metrics": [{"Name": name, "Unit": UNITS[name]} for name in values],
                    }
                ],
            },
            "Table": table,
            **values,
        }
        lines.append(json.dumps(document, separators=(",", ":")))
    return lines
