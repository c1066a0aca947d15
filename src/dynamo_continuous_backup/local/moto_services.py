"""moto adjustments for S3, Lambda, CloudFormation and Firehose, where moto differs from AWS in
a way that matters here (each says why). `apply()` installs them all, once."""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger(__name__)


def _ignore_conditional_bucket_statements() -> None:
    """moto evaluates bucket policies without their conditions, so the TLS-only Deny
    (`aws:SecureTransport: false`) would deny every call to the plain-HTTP local endpoint.
    Evaluate only the unconditional statements, which moto can judge correctly."""
    import json

    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3.models import FakeBucket

    def get_permission(self: Any, action: str, resource: str) -> Any:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        doc = json.loads(self.policy)
        statements = doc.get("Statement", [])
        kept = [st for st in (statements if isinstance(statements, list) else [statements]) if "Condition" not in st]
        if not kept:
            return PermissionResult.NEUTRAL
        return IAMPolicy(json.dumps({**doc, "Statement": kept})).is_action_permitted(action, resource)

    FakeBucket.get_permission = get_permission  # type: ignore[method-assign]


def _serve_function_code() -> None:
    """AWS answers GetFunction with Code.Location, a URL of the deployed zip; moto's points at a
    host that does not exist. Keep each zip in a local folder and answer with its file:// URL, so the local
    runtime runs exactly the code that was deployed."""
    import tempfile
    from pathlib import Path

    from moto.awslambda.models import LambdaFunction

    if getattr(LambdaFunction, "_dcb_code_served", False):
        return
    original = LambdaFunction.get_code
    folder = Path(tempfile.gettempdir()) / f"dcb-lambda-code-{os.getuid()}"

    def get_code(self: Any) -> dict[str, Any]:
        answer: dict[str, Any] = original(self)
        data = getattr(self, "code_bytes", b"")
        if data:  # named by the hash moto keeps (base64 of SHA-256): no rehash per GetFunction
            path = folder / f"{self.code_sha_256.replace('/', '_').replace('+', '-')}.zip"
            if not path.exists():
                folder.mkdir(parents=True, exist_ok=True)
                staging = path.with_suffix(f".{os.getpid()}.part")
                staging.write_bytes(data)
                staging.replace(path)
            answer["Code"] = {"RepositoryType": "S3", "Location": path.as_uri()}
        return answer

    LambdaFunction.get_code = get_code  # type: ignore[method-assign]
    LambdaFunction._dcb_code_served = True  # type: ignore[attr-defined]


def _keep_logging_config() -> None:
    """Lambda answers GetFunctionConfiguration with the function's LoggingConfig (Text format
    by default); moto drops it, so deploy could neither set JSON logs nor see them set."""
    from moto.awslambda.models import LambdaFunction

    if getattr(LambdaFunction, "_dcb_logging_kept", False):
        return
    init, configuration, update = (
        LambdaFunction.__init__,
        LambdaFunction.get_configuration,
        LambdaFunction.update_configuration,
    )

    def __init__(self: Any, account_id: str, spec: dict[str, Any], region: str, version: Any = 1) -> None:
        init(self, account_id, spec, region, version)
        default = {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{self.function_name}"}
        self._dcb_logging = {**default, **(spec.get("LoggingConfig") or {})}

    def get_configuration(self: Any, on_create: bool = False) -> dict[str, Any]:
        answer: dict[str, Any] = configuration(self, on_create)
        answer["LoggingConfig"] = dict(self._dcb_logging)
        return answer

    def update_configuration(self: Any, config_updates: dict[str, Any]) -> dict[str, Any]:
        if "LoggingConfig" in config_updates:
            self._dcb_logging = {**self._dcb_logging, **config_updates["LoggingConfig"]}
        return update(self, config_updates)  # type: ignore[no-any-return]

    from_stack = LambdaFunction.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_from_cloudformation_json(cls: Any, name: str, template: dict[str, Any], *args: Any, **kw: Any) -> Any:
        made = from_stack(cls, name, template, *args, **kw)  # moto's drops the LoggingConfig property
        made._dcb_logging.update(template["Properties"].get("LoggingConfig") or {})
        return made

    LambdaFunction.__init__ = __init__  # type: ignore[method-assign]
    LambdaFunction.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)  # type: ignore[method-assign, assignment]
    LambdaFunction.get_configuration = get_configuration  # type: ignore[method-assign]
    LambdaFunction.update_configuration = update_configuration  # type: ignore[method-assign]
    LambdaFunction._dcb_logging_kept = True  # type: ignore[attr-defined]


def _cloudformation_alarms_and_subscriptions() -> None:
    """moto's CloudFormation has no AWS::CloudWatch::Alarm nor AWS::SNS::Subscription: it skips
    them with a warning and the stack still ends CREATE_COMPLETE without them. Create and delete
    them with moto's own PutMetricAlarm / Subscribe, as CloudFormation does on AWS."""
    from moto.cloudformation import parsing
    from moto.cloudwatch.models import Dimension, Metric, MetricDataQuery, MetricStat, cloudwatch_backends
    from moto.core.common_models import CloudFormationModel
    from moto.sns.models import sns_backends

    if "AWS::CloudWatch::Alarm" in parsing.get_model_map():
        return

    def query(m: dict[str, Any]) -> MetricDataQuery:
        stat, metric = m.get("MetricStat"), m.get("MetricStat", {}).get("Metric", {})
        dims = [Dimension(d["Name"], d["Value"]) for d in metric.get("Dimensions", [])]
        return MetricDataQuery(
            query_id=m["Id"],
            label=m.get("Label"),  # type: ignore[arg-type]
            period=m.get("Period"),  # type: ignore[arg-type]
            return_data=m.get("ReturnData"),  # type: ignore[arg-type]
            expression=m.get("Expression"),
            metric_stat=stat
            and MetricStat(
                Metric(metric["MetricName"], metric["Namespace"], dims), stat["Period"], stat["Stat"], stat.get("Unit")
            ),
        )

    class CfnAlarm(CloudFormationModel):
        def __init__(self, name: str, arn: str) -> None:
            self.physical_resource_id, self.arn = name, arn  # Ref: the alarm's name

        @staticmethod
        def cloudformation_name_type() -> str:
            return "AlarmName"

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::CloudWatch::Alarm"

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr == "Arn"

        def get_cfn_attribute(self, attribute_name: str) -> str:
            return self.arn

        @classmethod
        def create_from_cloudformation_json(
            cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **_: Any
        ) -> Any:
            p = cloudformation_json["Properties"]
            alarm = cloudwatch_backends[account_id][region_name].put_metric_alarm(
                name=resource_name,
                namespace=p.get("Namespace"),
                metric_name=p.get("MetricName"),
                metric_data_queries=[query(m) for m in p.get("Metrics", [])] or None,
                comparison_operator=p["ComparisonOperator"],
                evaluation_periods=int(p["EvaluationPeriods"]),
                datapoints_to_alarm=int(p["DatapointsToAlarm"]) if "DatapointsToAlarm" in p else None,
                period=int(p["Period"]) if "Period" in p else None,  # type: ignore[arg-type]
                threshold=float(p["Threshold"]) if "Threshold" in p else None,  # type: ignore[arg-type]
                statistic=p.get("Statistic"),
                extended_statistic=p.get("ExtendedStatistic"),
                description=p.get("AlarmDescription"),
                dimensions=p.get("Dimensions", []),
                alarm_actions=p.get("AlarmActions", []),
                ok_actions=p.get("OKActions", []),
                insufficient_data_actions=p.get("InsufficientDataActions", []),
                unit=p.get("Unit"),
                actions_enabled=str(p.get("ActionsEnabled", True)).lower() == "true",
                treat_missing_data=p.get("TreatMissingData"),
                evaluate_low_sample_count_percentile=p.get("EvaluateLowSampleCountPercentile"),
                threshold_metric_id=p.get("ThresholdMetricId"),
                tags=p.get("Tags"),
            )
            return cls(alarm.name, alarm.alarm_arn)

        def delete(self, account_id: str, region_name: str) -> None:
            cloudwatch_backends[account_id][region_name].delete_alarms([self.physical_resource_id])

    class CfnSubscription(CloudFormationModel):
        def __init__(self, arn: str) -> None:
            self.physical_resource_id = arn  # Ref: the subscription's ARN

        @staticmethod
        def cloudformation_name_type() -> str:
            return ""

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::SNS::Subscription"

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return False

        @classmethod
        def create_from_cloudformation_json(
            cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **_: Any
        ) -> Any:
            p = cloudformation_json["Properties"]
            subscription = sns_backends[account_id][region_name].subscribe(p["TopicArn"], p["Endpoint"], p["Protocol"])
            return cls(subscription.arn)

        def delete(self, account_id: str, region_name: str) -> None:
            sns_backends[account_id][region_name].unsubscribe(self.physical_resource_id)

    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()  # they list CloudFormationModel's subclasses once


def _firehose_delivery_metrics() -> None:
    """Firehose publishes per delivery stream how its deliveries to S3 went (`AWS/Firehose`
    DeliveryToS3.*), which alarms and `status` read; moto publishes nothing. moto delivers each
    PutRecordBatch to S3 at once: one delivery per call, its data 0 s old when delivered, and
    Success 0 when S3 refused it (moto then fails the call, where Firehose would retry)."""
    from moto.cloudwatch.models import cloudwatch_backends
    from moto.firehose.models import FirehoseBackend

    if getattr(FirehoseBackend, "_dcb_patched", False):
        return
    original = FirehoseBackend.put_s3_records

    def put_s3_records(self: Any, delivery_stream_name: str, version_id: str, dest: Any, records: Any) -> Any:
        ok = False
        try:
            answer = original(self, delivery_stream_name, version_id, dest, records)
            ok = True
            return answer
        finally:
            dims = [{"Name": "DeliveryStreamName", "Value": delivery_stream_name}]
            figures = [
                ("DeliveryToS3.Success", float(ok), "None"),
                ("DeliveryToS3.Records", ok * len(records), "Count"),
            ]
            if ok:
                figures.append(("DeliveryToS3.DataFreshness", 0.0, "Seconds"))
            data = [{"MetricName": n, "Dimensions": dims, "Value": v, "Unit": u} for n, v, u in figures]
            cloudwatch_backends[self.account_id][self.region_name].put_metric_data("AWS/Firehose", data)

    FirehoseBackend.put_s3_records = put_s3_records  # type: ignore[method-assign,assignment]
    FirehoseBackend._dcb_patched = True  # type: ignore[attr-defined]


def apply() -> None:
    _ignore_conditional_bucket_statements()
    _serve_function_code()
    _keep_logging_config()
    _cloudformation_alarms_and_subscriptions()
    _firehose_delivery_metrics()
