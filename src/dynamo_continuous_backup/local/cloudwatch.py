"""What CloudWatch holds on AWS for the functions the local runtime runs: Lambda's own metrics
per invocation (`AWS/Lambda`), and the metrics CloudWatch Logs extracts from embedded-metric-
format (EMF) lines of a function's output. Deciding is pure; `MetricPublisher` sends the data
to the emulated CloudWatch from a background thread, batched, so no invocation waits for it."""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from ..core.stream_records import StreamRecord

log = logging.getLogger(__name__)

Datum = dict[str, Any]  # one PutMetricData `MetricData` entry
Metric = tuple[str, Datum]  # (namespace, datum)

LAMBDA_NAMESPACE = "AWS/Lambda"
MAX_DATA_PER_CALL = 1000  # PutMetricData's limit of MetricData entries per request
MAX_VALUES = 100  # EMF's limit of values per metric
MAX_DIMENSIONS = 30  # CloudWatch's limit of dimensions per metric


def emf_metrics(line: str) -> list[Metric]:
    """The metrics CloudWatch Logs extracts from one output line: for an EMF document, one datum
    per metric and dimension set of each directive; for anything else (or malformed EMF), none."""
    if not line.startswith("{") or '"_aws"' not in line:  # cheap: nearly every line is a plain log
        return []
    try:
        doc = json.loads(line)
    except ValueError:
        return []
    meta = doc.get("_aws") if isinstance(doc, dict) else None
    if not isinstance(meta, dict) or not isinstance(meta.get("CloudWatchMetrics"), list):
        return []
    when = _time(meta.get("Timestamp"))
    out: list[Metric] = []
    for directive in meta["CloudWatchMetrics"]:
        if isinstance(directive, dict) and isinstance(directive.get("Namespace"), str):
            out += [(directive["Namespace"], d) for d in _directive_data(doc, directive, when)]
    return out


def _directive_data(doc: dict[str, Any], directive: dict[str, Any], when: datetime) -> list[Datum]:
    sets = [_dimensions(doc, names) for names in directive.get("Dimensions") or [[]]]
    data: list[Datum] = []
    for metric in directive.get("Metrics") or []:
        name = metric.get("Name") if isinstance(metric, dict) else None
        values = _values(doc.get(name)) if isinstance(name, str) else None
        if not values:  # CloudWatch Logs skips a metric whose value is missing or not numeric
            continue
        base: Datum = {"MetricName": name, "Timestamp": when, "Unit": metric.get("Unit") or "None"}
        if metric.get("StorageResolution") == 1:
            base["StorageResolution"] = 1
        base.update({"Value": values[0]} if len(values) == 1 else {"Values": values})
        data += [{**base, "Dimensions": dims} for dims in sets if dims is not None]
    return data


def _dimensions(doc: dict[str, Any], names: Any) -> list[dict[str, str]] | None:
    """A dimension set's (name, value) pairs; None when it is invalid (CloudWatch drops it)."""
    if not isinstance(names, list) or len(names) > MAX_DIMENSIONS:
        return None
    pairs = [(n, doc.get(n)) for n in names]
    if any(not isinstance(n, str) or not isinstance(v, str) or not v for n, v in pairs):
        return None
    return [{"Name": str(n), "Value": str(v)} for n, v in pairs]


def _values(value: Any) -> list[float]:
    items = value if isinstance(value, list) else [value]
    if not 0 < len(items) <= MAX_VALUES:
        return []
    if any(isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) for v in items):
        return []
    return [float(v) for v in items]


def _time(ms: Any) -> datetime:
    if isinstance(ms, int | float) and not isinstance(ms, bool) and ms > 0:
        return datetime.fromtimestamp(ms / 1000, UTC)
    return datetime.now(UTC)  # as CloudWatch Logs: the log event's own time


def invocation_metrics(
    function: str, duration_ms: float, failed: bool, iterator_age_ms: float | None, when: datetime
) -> list[Metric]:
    """What Lambda publishes for one invocation (`iterator_age_ms`: stream event sources only)."""
    dims = [{"Name": "FunctionName", "Value": function}]
    figures = [
        ("Invocations", 1.0, "Count"),
        ("Errors", float(failed), "Count"),
        ("Duration", duration_ms, "Milliseconds"),
    ]
    if iterator_age_ms is not None:
        figures.append(("IteratorAge", iterator_age_ms, "Milliseconds"))
    return [
        (LAMBDA_NAMESPACE, {"MetricName": n, "Dimensions": dims, "Timestamp": when, "Value": v, "Unit": u})
        for n, v, u in figures
    ]


def iterator_age_ms(event: dict[str, Any], now: float) -> float | None:
    """Lambda's IteratorAge of a stream batch: now minus its newest record's change time
    (`now`: epoch seconds); None for an event that is not a stream batch."""
    records = event.get("Records")
    if not isinstance(records, list):
        return None
    times = [StreamRecord(r).approximate_creation_time for r in records if isinstance(r, dict) and r.get("dynamodb")]
    numbers = [t for t in times if t is not None]
    return max(0.0, round((now - max(numbers)) * 1000, 3)) if numbers else None


def batches(metrics: Iterable[Metric]) -> list[tuple[str, list[Datum]]]:
    """The PutMetricData calls that send `metrics`: one namespace each, at most 1000 data."""
    by_namespace: dict[str, list[Datum]] = {}
    for namespace, datum in metrics:
        by_namespace.setdefault(namespace, []).append(datum)
    return [
        (namespace, data[i : i + MAX_DATA_PER_CALL])
        for namespace, data in by_namespace.items()
        for i in range(0, len(data), MAX_DATA_PER_CALL)
    ]


class MetricPublisher:
    """Sends metrics to CloudWatch in the background: `put` never waits for the API, `flush`
    waits until everything put so far was sent. The thread ends when idle and restarts on use
    (runtimes are many in the tests, and most never publish)."""

    def __init__(self, cloudwatch: Any, idle_seconds: float = 2.0) -> None:
        self.cloudwatch = cloudwatch
        self.idle_seconds = idle_seconds
        self._pending: list[Metric] = []
        self._queued = self._done = 0
        self._running = False
        self._cond = threading.Condition()

    def put(self, metrics: list[Metric]) -> None:
        if not metrics:
            return
        with self._cond:
            self._pending += metrics
            self._queued += len(metrics)
            self._cond.notify_all()
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="dcb-local-metrics", daemon=True).start()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until what was put so far is sent; False if `timeout` ran out first."""
        with self._cond:
            target = self._queued
            return self._cond.wait_for(lambda: self._done >= target, timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._cond.wait_for(lambda: self._pending, self.idle_seconds):
                    self._running = False
                    return
                taken, self._pending = self._pending, []
            self._send(taken)
            with self._cond:
                self._done += len(taken)
                self._cond.notify_all()

    def _send(self, metrics: list[Metric]) -> None:
        for namespace, data in batches(metrics):
            try:
                self.cloudwatch.put_metric_data(Namespace=namespace, MetricData=data)
            except Exception as exc:  # metrics are best effort, as on AWS: the thread must go on
                log.warning("%d metric data of %s not published: %s", len(data), namespace, exc)
