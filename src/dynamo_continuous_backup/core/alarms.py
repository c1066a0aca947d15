"""The CloudWatch alarms that say capture broke (pure). Deploy creates the fleet's alarms; the
provisioner creates each delivery stream's two with the stream and removes them with it.
docs/operations.md (Alarms) says what each one means and what to do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .config import Config

NAMESPACE = "DynamoContinuousBackup"  # the forwarder's own metrics (capture/metrics.py)
FIVE_MINUTES = 300


@dataclass(frozen=True)
class AlarmSpec:
    """One metric alarm, in PutMetricAlarm's terms."""

    name: str
    description: str
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]
    statistic: str  # Sum | Maximum | Minimum
    threshold: float
    comparison: str  # GreaterThanOrEqualToThreshold | GreaterThanThreshold | LessThanThreshold
    period: int = FIVE_MINUTES
    periods: int = 1  # evaluation periods, all of which must breach
    actions: tuple[str, ...] = ()  # SNS topic ARNs, on ALARM and back to OK

    def put_args(self) -> dict[str, Any]:
        """PutMetricAlarm's arguments."""
        return {
            "AlarmName": self.name,
            "AlarmDescription": self.description,
            "Namespace": self.namespace,
            "MetricName": self.metric,
            "Dimensions": [{"Name": k, "Value": v} for k, v in self.dimensions],
            "Statistic": self.statistic,
            "Period": self.period,
            "EvaluationPeriods": self.periods,
            "DatapointsToAlarm": self.periods,
            "Threshold": float(self.threshold),
            "ComparisonOperator": self.comparison,
            # No data is a quiet table or an idle forwarder, not a failure.
            "TreatMissingData": "notBreaching",
            "ActionsEnabled": True,
            "AlarmActions": list(self.actions),
            "OKActions": list(self.actions),
        }

    def differs_from(self, described: dict[str, Any]) -> bool:
        """Whether DescribeAlarms' answer for this alarm lacks any of its settings."""
        want = self.put_args()
        return any(_normal(described.get(k)) != _normal(v) for k, v in want.items())


def _normal(value: Any) -> Any:
    if isinstance(value, list):
        return sorted(_normal(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _normal(v)) for k, v in value.items()))
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


def default_topic_name(config: Config) -> str:
    return f"{config.resource_prefix}-alarms"


def topic_arn(config: Config, account: str, region: str) -> str:
    """`alarmTopicArn` when the config names one; else the topic deploy creates."""
    return config.alarm_topic_arn or f"arn:aws:sns:{region}:{account}:{default_topic_name(config)}"


def fleet_alarms(config: Config, topic: str) -> tuple[AlarmSpec, ...]:
    """Deploy's alarms: the two functions failing, capture falling behind, records not delivered."""
    p, actions = config.resource_prefix, (topic,)
    forwarder = (("FunctionName", config.forwarder_function_name),)
    return (
        AlarmSpec(
            f"{p}-forwarder-errors",
            "The forwarder failed on a stream batch; Lambda retries it, but changes wait until it succeeds.",
            "AWS/Lambda",
            "Errors",
            forwarder,
            "Sum",
            1,
            "GreaterThanOrEqualToThreshold",
            actions=actions,
        ),
        AlarmSpec(
            f"{p}-forwarder-iterator-age",
            f"Capture is more than {config.max_lag_seconds}s behind a table's stream, beyond its "
            f"{config.streams_batching_window_seconds}s batching window, for 3 minutes; "
            "stream records expire after 24 hours.",
            "AWS/Lambda",
            "IteratorAge",
            forwarder,
            "Maximum",
            # IteratorAge is in milliseconds; a batching window holds records that long by design
            (config.max_lag_seconds + config.streams_batching_window_seconds) * 1000,
            "GreaterThanThreshold",
            period=60,
            periods=3,
            actions=actions,
        ),
        AlarmSpec(
            f"{p}-records-undelivered",
            "The forwarder could not hand change records to Firehose (they are retried with the batch).",
            NAMESPACE,
            "RecordsUndelivered",
            (),
            "Sum",
            1,
            "GreaterThanOrEqualToThreshold",
            actions=actions,
        ),
        AlarmSpec(
            f"{p}-ensure-errors",
            "The ensure function failed: a new or changed table may not be protected.",
            "AWS/Lambda",
            "Errors",
            (("FunctionName", config.ensure_function_name),),
            "Sum",
            1,
            "GreaterThanOrEqualToThreshold",
            actions=actions,
        ),
    )


def delivery_alarm_names(config: Config, delivery_stream: str) -> tuple[str, str]:
    base = f"{config.resource_prefix}-delivery-{delivery_stream}"
    return f"{base}-failing", f"{base}-freshness"


def delivery_alarms(config: Config, delivery_stream: str, topic: str) -> tuple[AlarmSpec, ...]:
    """A delivery stream's alarms: writes to S3 failing, or data older than the lag allowed
    plus the buffer interval (Firehose holds records that long by design)."""
    failing, freshness = delivery_alarm_names(config, delivery_stream)
    stream = (("DeliveryStreamName", delivery_stream),)
    return (
        AlarmSpec(
            failing,
            f"Firehose stream {delivery_stream} failed to write to S3; it retries for 24 hours.",
            "AWS/Firehose",
            "DeliveryToS3.Success",
            stream,
            "Minimum",
            1,
            "LessThanThreshold",
            actions=(topic,),
        ),
        AlarmSpec(
            freshness,
            f"Records wait in Firehose stream {delivery_stream} longer than expected.",
            "AWS/Firehose",
            "DeliveryToS3.DataFreshness",
            stream,
            "Maximum",
            config.max_lag_seconds + config.firehose_delivery_interval_seconds,
            "GreaterThanThreshold",
            actions=(topic,),
        ),
    )
