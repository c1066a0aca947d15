"""A protected table's capture health for `status`: how far behind capture is (lag) and the
last delivery error, decided from what CloudWatch and Firehose report (`decide_health`, pure)
and observed through the Clients facade (`observe_health`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ..core.alarms import NAMESPACE  # the forwarder's metrics (capture/metrics.py)
from ..core.aws import Clients
from ..core.errors import AwsError, AwsNotFoundError

log = logging.getLogger(__name__)

WINDOW_SECONDS = 900  # "recent": the last 15 minutes
FAILED_STATES = ("CREATING_FAILED", "DELETING_FAILED")


@dataclass(frozen=True)
class Observed:
    """What CloudWatch and Firehose said about one table over the window (None: no datum)."""

    lag_max: float | None = None  # our LagSeconds, Maximum
    undelivered: float | None = None  # our RecordsUndelivered, Sum
    delivery_success_min: float | None = None  # AWS/Firehose DeliveryToS3.Success, Minimum
    delivery_status: str | None = None
    failure: dict[str, Any] | None = None  # the delivery stream's FailureDescription
    metrics_error: str | None = None  # why CloudWatch could not be read


@dataclass(frozen=True)
class Health:
    lag_seconds: float | None  # None: no record forwarded in the window, or unknown (metrics_note)
    delivery_error: str | None
    metrics_note: str | None  # why the metrics are unknown


def decide_health(obs: Observed) -> Health:
    """The lag and delivery error `status` shows, from the observed figures."""
    errors = []
    if obs.failure:
        kind, details = obs.failure.get("Type", ""), obs.failure.get("Details", "")
        errors.append(
            f"delivery stream {obs.delivery_status or 'failed'}: {': '.join(x for x in (kind, details) if x)}"
        )
    elif obs.delivery_status in FAILED_STATES:
        errors.append(f"delivery stream {obs.delivery_status}")
    minutes = WINDOW_SECONDS // 60
    if obs.undelivered:
        errors.append(f"{obs.undelivered:.0f} records undelivered in the last {minutes} min")
    if obs.delivery_success_min is not None and obs.delivery_success_min < 1:
        errors.append(f"Firehose deliveries to S3 failed in the last {minutes} min")
    note = f"lag and delivery metrics unknown: {obs.metrics_error}" if obs.metrics_error else None
    return Health(obs.lag_max, "; ".join(errors) or None, note)


def lag_text(health: Health) -> str:
    """The LAG column: `12s`, `4m05s`, `2h03m`; `-` without a datum; `unknown` without metrics."""
    if health.lag_seconds is None:
        return "unknown" if health.metrics_note else "-"
    s = round(health.lag_seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def observe_health(
    clients: Clients, table: str, delivery_stream: str, delivery_status: str | None, now: datetime | None = None
) -> Observed:
    """One GetMetricData call for the window, and the delivery stream's failure when it failed.
    A CloudWatch error (no permission, ...) makes the metrics unknown, not the status fail."""
    failure = None
    if delivery_status not in (None, "ACTIVE"):  # Firehose describes a failure only in a failed state
        try:
            desc = clients.firehose.describe_delivery_stream(DeliveryStreamName=delivery_stream)
            failure = desc["DeliveryStreamDescription"].get("FailureDescription")
        except AwsNotFoundError:
            pass  # deleted since it was observed: the row's other columns say so
    end = now or datetime.now(UTC)
    queries = [
        _query("lag", NAMESPACE, "LagSeconds", "Table", table, "Maximum"),
        _query("undelivered", NAMESPACE, "RecordsUndelivered", "Table", table, "Sum"),
        _query("success", "AWS/Firehose", "DeliveryToS3.Success", "DeliveryStreamName", delivery_stream, "Minimum"),
    ]
    try:
        answer = clients.cloudwatch.get_metric_data(
            MetricDataQueries=queries,
            StartTime=end - timedelta(seconds=WINDOW_SECONDS),
            EndTime=end + timedelta(minutes=1),  # the current minute's data too
        )
    except AwsError as exc:
        log.debug("metrics of %s not read", table, exc_info=True)
        return Observed(delivery_status=delivery_status, failure=failure, metrics_error=str(exc))
    values = {r["Id"]: [float(v) for v in r.get("Values", [])] for r in answer.get("MetricDataResults", [])}
    return Observed(
        lag_max=max(values.get("lag") or [], default=None),
        undelivered=sum(values["undelivered"]) if values.get("undelivered") else None,
        delivery_success_min=min(values.get("success") or [], default=None),
        delivery_status=delivery_status,
        failure=failure,
    )


def _query(qid: str, namespace: str, metric: str, dimension: str, value: str, stat: str) -> dict[str, Any]:
    dims = [{"Name": dimension, "Value": value}]
    return {
        "Id": qid,
        "MetricStat": {
            "Metric": {"Namespace": namespace, "MetricName": metric, "Dimensions": dims},
            "Period": 60,
            "Stat": stat,
        },
    }
