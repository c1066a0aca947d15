"""The embedded AWS: moto server in this process, adjusted where moto differs from AWS in a
way that matters here (each adjustment says why).

moto delivers stream records to mapped functions itself by running them in Docker, and on
"success" it empties the shard, which breaks sequence numbers. The local runtime delivers
records with our own poller instead, so that path is disabled here.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from . import emulator_jobs

log = logging.getLogger(__name__)

FAKE_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}


def _disable_moto_lambda_delivery() -> None:
    from moto.awslambda.models import LambdaBackend

    def keep_records(self: Any, function_arn: str, items: list[Any], source: str) -> str:
        return ""  # falsy: moto keeps the shard's records for our poller

    LambdaBackend.send_dynamodb_items = keep_records  # type: ignore[method-assign,assignment]


def _keep_streams_of_deleted_tables() -> None:
    """AWS keeps a deleted table's stream readable for 24 hours; moto drops it with the table.
    Keep it, so mappings can drain what was written just before DeleteTable."""
    from moto.dynamodb.exceptions import ResourceNotFoundException
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend

    if getattr(DynamoDBBackend, "_dcb_patched", False):
        return
    original_delete = DynamoDBBackend.delete_table
    original_lookup = DynamoDBStreamsBackend._get_table_from_arn

    def delete_table(self: Any, name: str) -> Any:
        table = original_delete(self, name)
        if getattr(table, "stream_shard", None) is not None:
            _GRAVEYARD[(self.account_id, self.region_name, str(table.latest_stream_label))] = table
        return table

    def lookup(self: Any, arn: str) -> Any:
        label = arn.rsplit("/stream/", 1)[-1]
        try:
            table = original_lookup(self, arn)
            if "/stream/" not in arn or table.latest_stream_label == label:
                return table
        except ResourceNotFoundException:  # moto's own (inside the server): the table was deleted
            pass
        found = _GRAVEYARD.get((self.account_id, self.region_name, label))
        if found is None:
            return original_lookup(self, arn)
        return found

    DynamoDBBackend.delete_table = delete_table  # type: ignore[method-assign]
    DynamoDBStreamsBackend._get_table_from_arn = lookup  # type: ignore[method-assign]
    DynamoDBBackend._dcb_patched = True  # type: ignore[attr-defined]


_GRAVEYARD: dict[tuple[str, str, str], Any] = {}


def _disabled_streams_stop_capturing() -> None:
    """On AWS a disabled stream captures no more writes, stays readable for 24 hours, and the
    table can get a new stream; moto keeps appending to it (failing with KeyError
    'StreamViewType' on the next write) and refuses a new one. Retire the old stream beside
    deleted tables' ones, where the streams API still finds it."""
    import copy

    from moto.dynamodb.models.table import Table

    if getattr(Table, "_dcb_patched", False):
        return
    original = Table.set_stream_specification

    def set_stream_specification(self: Any, streams: dict[str, Any] | None) -> None:
        shard, label, spec = self.stream_shard, self.latest_stream_label, self.stream_specification
        original(self, streams)
        if shard is not None and not (self.stream_specification or {}).get("StreamEnabled"):
            retired = copy.copy(self)
            retired.stream_shard, retired.stream_specification = shard, spec
            shard.table = retired
            _GRAVEYARD[(self.account_id, self.region_name, str(label))] = retired
            self.stream_shard, self.latest_stream_label = None, None

    Table.set_stream_specification = set_stream_specification  # type: ignore[method-assign]
    Table._dcb_patched = True  # type: ignore[attr-defined]


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


def _binary_keys_in_stream_records() -> None:
    """moto writes a binary key into a stream record's `Keys` already base64-encoded, and its
    GetRecords serializer encodes it again, so clients decode the base64 text instead of the
    key's bytes (`NewImage`/`OldImage` are right). Keep the raw bytes there, as in the images."""
    from moto.dynamodb.models.table import StreamRecord

    if getattr(StreamRecord, "_dcb_patched", False):
        return
    original_init = StreamRecord.__init__

    def init(self: Any, table: Any, stream_type: str, event_name: str, old: Any, new: Any, seq: int) -> None:
        original_init(self, table, stream_type, event_name, old, new, seq)
        item = old if old is not None else new
        keys = self.record["dynamodb"]["Keys"]
        for attr, key in ((table.hash_key_attr, item.hash_key), (table.range_key_attr, item.range_key)):
            if key is not None and key.type == "B" and isinstance(key.value, bytes):
                keys[attr] = {"B": key.value}

    StreamRecord.__init__ = init  # type: ignore[method-assign]
    StreamRecord._dcb_patched = True  # type: ignore[attr-defined]


def _segmented_scan_of_binary_hash_keys() -> None:
    """moto picks an item's Scan segment from `hash_key.value.encode()`, which fails with a
    500 when the hash key is binary (bytes). Hash the bytes themselves: the segment is still
    a stable function of the hash key, as in AWS."""
    import hashlib

    from moto.dynamodb.models.dynamo_type import Item

    if getattr(Item, "_dcb_patched", False):
        return
    original = Item.is_within_segment

    def is_within_segment(self: Any, segments: Any) -> bool:
        value = self.hash_key.value
        if segments == (None, None) or not isinstance(value, bytes):
            return bool(original(self, segments))
        segment, total = segments
        return bool(hashlib.md5(value).digest()[0] % total == segment)

    Item.is_within_segment = is_within_segment  # type: ignore[method-assign]
    Item._dcb_patched = True  # type: ignore[attr-defined]


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedMoto:
    """moto server on 127.0.0.1:`port` running in a background thread of this process."""

    def __init__(self, port: int | None = None) -> None:
        from moto.server import ThreadedMotoServer

        _disable_moto_lambda_delivery()
        _keep_streams_of_deleted_tables()
        _disabled_streams_stop_capturing()
        _ignore_conditional_bucket_statements()
        _serve_function_code()
        _binary_keys_in_stream_records()
        _segmented_scan_of_binary_hash_keys()
        _keep_logging_config()
        _cloudformation_alarms_and_subscriptions()
        emulator_jobs.patch()
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)

    def start(self) -> EmbeddedMoto:
        # An action moto lacks answers the client 500, which the client reports as an AWS error;
        # werkzeug's traceback of it on stderr would only be noise beside that.
        logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    @staticmethod
    def fake_credentials() -> dict[str, str]:
        return dict(FAKE_ENV)

    def environment(self, region: str = "us-east-1") -> dict[str, str]:
        """What a shell must export to point every boto3 session at this endpoint."""
        return {**FAKE_ENV, "AWS_ENDPOINT_URL": self.endpoint, "AWS_REGION": region, "AWS_DEFAULT_REGION": region}

    def reset(self) -> None:
        import urllib.request

        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")).read()
        _GRAVEYARD.clear()


def export(env: dict[str, str]) -> None:
    os.environ.update(env)
