"""Applying a deploy plan through the AWS facade. Creates tolerate "already exists" (a
concurrent or interrupted deploy did it); the dry run prints the plan instead
(`provisioning.steps.PrintingExecutor`)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, Protocol, assert_never

from ..core import naming
from ..core.aws import Clients
from ..core.errors import ConflictError
from ..provisioning.steps import Printer
from . import spec
from .steps import (
    AddPermission,
    CreateBucket,
    CreateFunction,
    CreateRole,
    CreateTopic,
    DeleteAlarms,
    DeleteDashboard,
    DeleteFunction,
    DeleteRole,
    DeleteRule,
    DeleteTopic,
    DeployStep,
    PutAlarm,
    PutBucketLifecycle,
    PutDashboard,
    PutRule,
    PutTarget,
    Subscribe,
    UpdateFunctionCode,
    UpdateFunctionConfiguration,
    UpdateRolePolicy,
)

log = logging.getLogger(__name__)


class DeployRunner(Protocol):
    """Applies (or prints) one step of a deploy plan."""

    def apply(self, step: DeployStep) -> bool: ...


class DeployExecutor:
    """`code` builds the Lambda zip when a step first needs it; `printer` shows each step as it
    is applied."""

    dry_run = False

    def __init__(self, clients: Clients, code: Callable[[], bytes], printer: Printer | None = None) -> None:
        self.clients = clients
        self.code = code
        self.printer = printer

    def apply(self, step: DeployStep) -> bool:
        log.info("%s", step)
        if self.printer is not None:
            self.printer.line(str(step))
        match step:
            case CreateBucket():
                self.create_bucket(step)
            case PutBucketLifecycle():
                self.clients.s3.put_bucket_lifecycle_configuration(
                    Bucket=step.bucket, LifecycleConfiguration={"Rules": list(step.rules)}
                )
            case CreateRole():
                self.create_role(step)
            case UpdateRolePolicy():
                self.put_role_policy(step.name, step.policy)
            case CreateFunction():
                self.create_function(step)
            case UpdateFunctionCode():
                self.clients.lambda_.update_function_code(FunctionName=step.name, ZipFile=self.code())
            case UpdateFunctionConfiguration():
                self.clients.lambda_.update_function_configuration(FunctionName=step.name, **step.settings)
            case PutRule():
                self.clients.events.put_rule(
                    Name=step.name, State="ENABLED", Description=spec.DESCRIPTION, **step.settings
                )
            case PutTarget():
                self.clients.events.put_targets(
                    Rule=step.rule, Targets=[{"Id": spec.TARGET_ID, "Arn": step.function_arn}]
                )
            case AddPermission():
                self.add_permission(step)
            case CreateTopic():  # CreateTopic returns the existing topic: safe to repeat
                self.clients.get("sns").create_topic(
                    Name=step.name, Tags=[{"Key": naming.TAG_OWNER, "Value": naming.OWNER}]
                )
            case Subscribe():  # AWS answers a repeated subscription with the existing one
                self.clients.get("sns").subscribe(TopicArn=step.topic_arn, Protocol="email", Endpoint=step.email)
            case PutAlarm():
                self.clients.get("cloudwatch").put_metric_alarm(**step.settings)
            case PutDashboard():
                self.clients.get("cloudwatch").put_dashboard(DashboardName=step.name, DashboardBody=step.body)
            case DeleteAlarms():
                for start in range(0, len(step.names), 100):  # DeleteAlarms takes 100 names a call
                    self.clients.get("cloudwatch").delete_alarms(AlarmNames=list(step.names[start : start + 100]))
            case DeleteDashboard():
                self.clients.get("cloudwatch").delete_dashboards(DashboardNames=[step.name])
            case DeleteTopic():
                self.clients.get("sns").delete_topic(TopicArn=step.arn)
            case DeleteRule():
                self.delete_rule(step.name)
            case DeleteFunction():
                self.clients.lambda_.delete_function(FunctionName=step.name)
            case DeleteRole():
                self.delete_role(step.name)
            case _:
                assert_never(step)
        return True

    def create_bucket(self, step: CreateBucket) -> None:
        s3, bucket = self.clients.s3, step.bucket
        extra = {} if step.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": step.region}}
        s3.create_bucket(Bucket=bucket, **extra)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_encryption(
            Bucket=bucket, ServerSideEncryptionConfiguration=spec.bucket_encryption(step.kms_key_arn)
        )
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=spec.PUBLIC_ACCESS_BLOCK)
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(spec.tls_only_policy(bucket)))

    def create_role(self, step: CreateRole) -> None:
        try:
            self.clients.iam.create_role(
                RoleName=step.name,
                AssumeRolePolicyDocument=json.dumps(step.trust),
                Description=f"{spec.DESCRIPTION} (least privilege)",
            )
        except ConflictError as exc:
            if exc.code != "EntityAlreadyExists":
                raise
        self.put_role_policy(step.name, step.policy)

    def put_role_policy(self, name: str, policy: dict[str, Any]) -> None:
        self.clients.iam.put_role_policy(RoleName=name, PolicyName=spec.ROLE_POLICY, PolicyDocument=json.dumps(policy))

    def create_function(self, step: CreateFunction) -> None:
        try:
            self.clients.lambda_.create_function(
                FunctionName=step.name, Code={"ZipFile": self.code()}, Architectures=spec.ARCHITECTURES, **step.settings
            )
        except ConflictError as exc:
            if exc.code != "ResourceConflictException":
                raise

    def add_permission(self, step: AddPermission) -> None:
        rule_arn = self.clients.events.describe_rule(Name=step.rule)["Arn"]
        try:
            self.clients.lambda_.add_permission(
                FunctionName=step.function,
                StatementId=step.statement_id,
                Action="lambda:InvokeFunction",
                Principal="events.amazonaws.com",
                SourceArn=rule_arn,
            )
        except ConflictError as exc:
            if exc.code != "ResourceConflictException":
                raise

    def delete_rule(self, name: str) -> None:
        ids = [t["Id"] for t in self.clients.events.list_targets_by_rule(Rule=name)["Targets"]]
        if ids:
            self.clients.events.remove_targets(Rule=name, Ids=ids)
        self.clients.events.delete_rule(Name=name)

    def delete_role(self, name: str) -> None:
        for policy in self.clients.iam.list_role_policies(RoleName=name)["PolicyNames"]:
            self.clients.iam.delete_role_policy(RoleName=name, PolicyName=policy)
        self.clients.iam.delete_role(RoleName=name)
