"""What deploy installs, written once: the roles, the functions, the rules and the bucket's
protections. The deploy planner (planner.py) and the CloudFormation template (template.py)
both read them from here (pure; no AWS calls)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..core import alarms, naming
from ..core.config import Config
from ..provisioning.events import HANDLED_CALLS
from . import iam
from .dashboard import dashboard_body, dashboard_name
from .packaging import LAMBDA_RUNTIME

ARCHITECTURES = ["x86_64"]  # the wheels packaging.py fetches are built for it
TARGET_ID = "ensure"  # the rules' one target: the ensure function
ROLE_POLICY = "backup"  # the inline policy of each role deploy creates
DESCRIPTION = "dynamo-continuous-backup"


@dataclass(frozen=True)
class RoleSpec:
    kind: str  # firehose | forwarder | provisioner
    key: str  # logical id in the template
    name: str
    service: str  # the one AWS service it trusts
    policy: iam.Policy

    @property
    def trust(self) -> iam.Policy:
        return iam.trust(self.service)


def roles(config: Config, account: str, region: str, firehose_role_arn: str) -> tuple[RoleSpec, ...]:
    """The three least-privilege roles, in creation order."""
    names = iam.role_names(config)
    return (
        RoleSpec("firehose", "FirehoseRole", names["firehose"], "firehose.amazonaws.com", iam.firehose_policy(config)),
        RoleSpec(
            "forwarder",
            "ForwarderRole",
            names["forwarder"],
            "lambda.amazonaws.com",
            iam.forwarder_policy(config, account, region),
        ),
        RoleSpec(
            "provisioner",
            "ProvisionerRole",
            names["provisioner"],
            "lambda.amazonaws.com",
            iam.provisioner_policy(config, account, region, firehose_role_arn),
        ),
    )


def given_role_arns(config: Config) -> dict[str, str | None]:
    """The roles the user brings in the config (None: deploy creates and manages that one)."""
    return {
        "provisioner": config.provisioner_role_arn,
        "forwarder": config.lambda_exec_role_arn,
        "firehose": config.firehose_delivery_role_arn,
    }


@dataclass(frozen=True)
class FunctionSpec:
    key: str  # logical id in the template
    name: str
    handler: str  # a public contract: users see it in the console
    role: str  # the kind of role that runs it
    timeout: int
    memory: int

    def settings(self, role_arn: str, environment: dict[str, Any]) -> dict[str, Any]:
        """CreateFunction / UpdateFunctionConfiguration arguments, as GetFunctionConfiguration names them."""
        return {
            "Role": role_arn,
            "Handler": self.handler,
            "Runtime": LAMBDA_RUNTIME,
            "Timeout": self.timeout,
            "MemorySize": self.memory,
            "Environment": environment,
            "LoggingConfig": self.logging(),
        }

    def logging(self) -> dict[str, str]:
        """JSON logs (one object per line, queryable in Logs Insights); item data in them only
        with the config's `logItemData`."""
        return {
            "LogFormat": "JSON",
            "ApplicationLogLevel": "INFO",
            "SystemLogLevel": "WARN",
            "LogGroup": f"/aws/lambda/{self.name}",
        }


def functions(config: Config) -> tuple[FunctionSpec, ...]:
    return (
        FunctionSpec(
            "EnsureFunction",
            config.ensure_function_name,
            "dynamo_continuous_backup.ensure_backup.handler",
            "provisioner",
            900,
            512,
        ),
        FunctionSpec(
            "ForwarderFunction",
            config.forwarder_function_name,
            "dynamo_continuous_backup.forwarder.handler",
            "forwarder",
            300,
            1024,
        ),
    )


def event_pattern() -> dict[str, Any]:
    """The CloudTrail calls that create, delete or change a table (provisioning/events.py)."""
    return {
        "source": ["aws.dynamodb"],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {"eventSource": ["dynamodb.amazonaws.com"], "eventName": list(HANDLED_CALLS)},
    }


@dataclass(frozen=True)
class RuleSpec:
    """An EventBridge rule invoking the ensure function: on table events or on a schedule."""

    key: str  # logical id in the template
    name: str
    pattern: dict[str, Any] | None = None
    schedule: str | None = None

    def settings(self) -> dict[str, str]:
        """PutRule's arguments besides the name, as DescribeRule names them."""
        if self.pattern is not None:
            return {"EventPattern": json.dumps(self.pattern, sort_keys=True)}
        return {"ScheduleExpression": str(self.schedule)}

    @property
    def permission_id(self) -> str:
        return f"{self.name}-invoke"


def rules(config: Config) -> tuple[RuleSpec, ...]:
    p = config.resource_prefix
    return (
        RuleSpec("TableEventsRule", f"{p}-table-events", pattern=event_pattern()),
        RuleSpec("ReconcileRule", f"{p}-reconcile", schedule=config.reconcile_schedule),
    )


def bucket_encryption(kms_key_arn: str | None) -> dict[str, Any]:
    rule: dict[str, Any] = (
        {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_key_arn} if kms_key_arn else {"SSEAlgorithm": "AES256"}
    )
    return {"Rules": [{"ApplyServerSideEncryptionByDefault": rule, "BucketKeyEnabled": True}]}


# Retention deletes change objects; in a versioned bucket that only adds delete markers, and the
# bytes stay billed. This rule lets S3 remove a deleted object's old versions after a week (the
# window to recover an object deleted by mistake) and the delete markers left alone. It only
# acts on objects already deleted or overwritten: bases and timeline facts are written once.
NONCURRENT_DAYS = naming.NONCURRENT_DAYS


def lifecycle_rule(prefix: str) -> dict[str, Any]:
    """Our lifecycle rule on the backup prefix (merged by ID with any rules the bucket has)."""
    return {
        "ID": naming.LIFECYCLE_RULE_ID,
        "Filter": {"Prefix": f"{prefix}/"},
        "Status": "Enabled",
        "NoncurrentVersionExpiration": {"NoncurrentDays": NONCURRENT_DAYS},
        "Expiration": {"ExpiredObjectDeleteMarker": True},
    }


PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


def tls_only_policy(bucket: str) -> dict[str, Any]:
    arn = f"arn:aws:s3:::{bucket}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": "s3:*",
                "Resource": [arn, f"{arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


@dataclass(frozen=True)
class Monitoring:
    """The alarm topic, the fleet's alarms and the dashboard (core/alarms.py, dashboard.py)."""

    topic_arn: str
    topic_name: str | None  # the topic deploy creates; None: the config's `alarmTopicArn`, not ours
    email: str | None
    alarms: tuple[alarms.AlarmSpec, ...]
    dashboard: str
    dashboard_body: str


def monitoring(config: Config, account: str, region: str) -> Monitoring:
    topic = alarms.topic_arn(config, account, region)
    return Monitoring(
        topic_arn=topic,
        topic_name=None if config.alarm_topic_arn else alarms.default_topic_name(config),
        email=config.alarm_email,
        alarms=alarms.fleet_alarms(config, topic),
        dashboard=dashboard_name(config),
        dashboard_body=dashboard_body(config, region),
    )
