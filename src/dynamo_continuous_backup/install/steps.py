"""The steps of a deploy plan: one frozen dataclass per kind of change, carrying its call's
parameters. The planner (planner.py) returns them; executor.py applies them; the dry run
prints them (`provisioning.steps.PrintingExecutor`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, TypeAlias

from ..provisioning.steps import Step


@dataclass(frozen=True)
class Named(Step):
    """A step on one named resource."""

    shows: ClassVar[str] = "{name}"
    name: str


@dataclass(frozen=True)
class CreateBucket(Step):
    """Versioned, encrypted, public access blocked, TLS only."""

    action: ClassVar[str] = "create_bucket"
    shows: ClassVar[str] = "{bucket}"
    bucket: str
    region: str
    kms_key_arn: str | None


@dataclass(frozen=True)
class PutBucketLifecycle(Step):
    """The bucket's whole lifecycle configuration: its rules kept, ours added or updated by ID."""

    action: ClassVar[str] = "put_bucket_lifecycle"
    shows: ClassVar[str] = "{bucket}"
    bucket: str
    rules: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class CreateRole(Named):
    action: ClassVar[str] = "create_role"
    trust: dict[str, Any]
    policy: dict[str, Any]


@dataclass(frozen=True)
class UpdateRolePolicy(Named):
    action: ClassVar[str] = "update_role_policy"
    policy: dict[str, Any]


@dataclass(frozen=True)
class CreateFunction(Named):
    action: ClassVar[str] = "create_function"
    settings: dict[str, Any]  # spec.FunctionSpec.settings


@dataclass(frozen=True)
class UpdateFunctionCode(Named):
    action: ClassVar[str] = "update_function_code"
    code_sha256: str  # of the zip it uploads


@dataclass(frozen=True)
class UpdateFunctionConfiguration(Named):
    action: ClassVar[str] = "update_function_configuration"
    settings: dict[str, Any]


@dataclass(frozen=True)
class PutRule(Named):
    action: ClassVar[str] = "put_rule"
    settings: dict[str, str]  # spec.RuleSpec.settings


@dataclass(frozen=True)
class PutTarget(Step):
    action: ClassVar[str] = "put_target"
    shows: ClassVar[str] = "{rule}"
    rule: str
    function_arn: str


@dataclass(frozen=True)
class AddPermission(Step):
    """Let the rule invoke the function."""

    action: ClassVar[str] = "add_permission"
    shows: ClassVar[str] = "{rule}"
    rule: str
    function: str
    statement_id: str


@dataclass(frozen=True)
class CreateTopic(Named):
    """The SNS topic the alarms notify."""

    action: ClassVar[str] = "create_topic"


@dataclass(frozen=True)
class Subscribe(Step):
    """Subscribe an email address to the alarm topic (the address confirms it)."""

    action: ClassVar[str] = "subscribe"
    shows: ClassVar[str] = "{email} to {topic_arn}"
    topic_arn: str
    email: str


@dataclass(frozen=True)
class PutAlarm(Named):
    action: ClassVar[str] = "put_alarm"
    settings: dict[str, Any]  # core.alarms.AlarmSpec.put_args


@dataclass(frozen=True)
class PutDashboard(Named):
    action: ClassVar[str] = "put_dashboard"
    body: str


@dataclass(frozen=True)
class DeleteAlarms(Step):
    action: ClassVar[str] = "delete_alarms"
    shows: ClassVar[str] = "{names}"
    names: tuple[str, ...]


@dataclass(frozen=True)
class DeleteDashboard(Named):
    action: ClassVar[str] = "delete_dashboard"


@dataclass(frozen=True)
class DeleteTopic(Step):
    action: ClassVar[str] = "delete_topic"
    shows: ClassVar[str] = "{arn}"
    arn: str


@dataclass(frozen=True)
class DeleteRule(Named):
    action: ClassVar[str] = "delete_rule"


@dataclass(frozen=True)
class DeleteFunction(Named):
    action: ClassVar[str] = "delete_function"


@dataclass(frozen=True)
class DeleteRole(Named):
    action: ClassVar[str] = "delete_role"


DeployStep: TypeAlias = (
    CreateBucket
    | PutBucketLifecycle
    | CreateRole
    | UpdateRolePolicy
    | CreateFunction
    | UpdateFunctionCode
    | UpdateFunctionConfiguration
    | PutRule
    | PutTarget
    | AddPermission
    | CreateTopic
    | Subscribe
    | PutAlarm
    | PutDashboard
    | DeleteAlarms
    | DeleteDashboard
    | DeleteTopic
    | DeleteRule
    | DeleteFunction
    | DeleteRole
)
