"""Pure decisions of deploy: from what deploy wants (`Desired`, built from spec.py) and what
the account holds (`DeployState`, observed by deployer.py), the steps to take. A second
deploy plans nothing."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import AwsError, ConfigError, UserInputError
from .spec import FunctionSpec, Monitoring, RoleSpec, RuleSpec
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


@dataclass(frozen=True)
class Desired:
    """What deploy wants in the account."""

    bucket: str
    region: str
    kms_key_arn: str | None
    roles: tuple[RoleSpec, ...]  # only those deploy manages: not the ones the config names
    functions: tuple[tuple[FunctionSpec, dict[str, Any]], ...]  # each with its settings
    code_sha256: str
    rules: tuple[RuleSpec, ...]
    target: str  # the function every rule invokes (the ensure function)
    target_arn: str
    monitoring: Monitoring
    lifecycle: dict[str, Any] | None = None  # spec.lifecycle_rule: frees what retention deletes


@dataclass(frozen=True)
class BucketState:
    exists: bool = False
    foreign: bool = False  # HeadBucket with our account as expected owner was refused
    region: str = ""
    versioning: str | None = None
    public_access_block: dict[str, bool] | None = None  # None: none configured
    policy: str | None = None  # None: no bucket policy
    lifecycle: tuple[dict[str, Any], ...] = ()  # its lifecycle rules


@dataclass(frozen=True)
class RuleState:
    description: dict[str, Any]  # DescribeRule's answer
    targets: tuple[str, ...]  # the ARNs it invokes


@dataclass(frozen=True)
class DeployState:
    """What the account holds of what deploy installs. A name absent from a mapping does not exist."""

    bucket: BucketState = BucketState()
    role_policies: Mapping[str, dict[str, Any] | None] = field(default_factory=dict)  # None: role without ours
    functions: Mapping[str, dict[str, Any]] = field(default_factory=dict)  # GetFunctionConfiguration
    rules: Mapping[str, RuleState] = field(default_factory=dict)
    permissions: frozenset[str] = frozenset()  # statement ids in the ensure function's policy
    trail: bool | str = True  # a trail logs management events; False: none does; str: not checked, why
    topic: str | None = None  # the alarm topic deploy creates: "ours", "foreign" (not tagged ours), None: absent
    subscriptions: frozenset[str] = frozenset()  # endpoints subscribed to the alarm topic
    alarms: Mapping[str, dict[str, Any]] = field(default_factory=dict)  # DescribeAlarms, by name
    dashboard: str | None = None  # its body; None: no dashboard of that name


@dataclass(frozen=True)
class DeployPlan:
    steps: tuple[DeployStep, ...] = ()
    warnings: tuple[str, ...] = ()


def plan_deploy(want: Desired, seen: DeployState) -> DeployPlan:
    """The steps that make the account hold what deploy wants, and what deploy cannot fix."""
    steps = [
        *_bucket(want, seen.bucket),
        *_lifecycle(want, seen.bucket),
        *_roles(want, seen),
        *_functions(want, seen),
        *_rules(want, seen),
        *_monitoring(want.monitoring, seen, want.region),
    ]
    warnings = [f"bucket {want.bucket}: {gap}" for gap in _bucket_gaps(seen.bucket)]
    theirs = [r for r in seen.bucket.lifecycle if want.lifecycle is None or r.get("ID") != want.lifecycle["ID"]]
    if any(isinstance(s, PutBucketLifecycle) for s in steps) and theirs:
        warnings.append(
            f"bucket {want.bucket}: lifecycle rule {want.lifecycle and want.lifecycle['ID']} added beside its "
            f"{len(theirs)} other rule(s), which stay as they are"
        )
    if want.monitoring.topic_name is None and seen.topic is None:
        warnings.append(f"alarmTopicArn {want.monitoring.topic_arn} does not exist: the alarms would notify nobody")
    if isinstance(seen.trail, str):
        warnings.append(f"could not check CloudTrail ({seen.trail}); table events need a trail")
    elif not seen.trail:
        warnings.append(
            "no CloudTrail trail is logging management events: CreateTable events will not "
            "reach EventBridge; only the hourly reconcile will cover new tables"
        )
    return DeployPlan(tuple(steps), tuple(warnings))


def _bucket(want: Desired, bucket: BucketState) -> list[DeployStep]:
    if bucket.foreign:
        raise AwsError(
            f"bucket {want.bucket} exists but belongs to another account or denies access; "
            "choose another firehoseDeliveryBucket"
        )
    if not bucket.exists:
        return [CreateBucket(want.bucket, want.region, want.kms_key_arn)]
    if bucket.region != want.region:
        raise ConfigError(
            f"bucket {want.bucket} is in {bucket.region} but the config's region is {want.region}; "
            "use a bucket in the tables' region, or set region"
        )
    return []


def _lifecycle(want: Desired, bucket: BucketState) -> list[DeployStep]:
    """Our lifecycle rule, merged by ID into the bucket's rules (never replacing the others)."""
    rule = want.lifecycle
    if rule is None or bucket.foreign:
        return []
    mine = [r for r in bucket.lifecycle if r.get("ID") == rule["ID"]]
    if mine and all(mine[0].get(k) == v for k, v in rule.items()):
        return []
    others = tuple(r for r in bucket.lifecycle if r.get("ID") != rule["ID"])
    return [PutBucketLifecycle(want.bucket, (*others, rule))]


def _bucket_gaps(bucket: BucketState) -> list[str]:
    """An existing bucket's missing protections: reported, never changed (it is the user's)."""
    if not bucket.exists:
        return []
    gaps = []
    if bucket.versioning != "Enabled":
        gaps.append("versioning is off (a deleted or overwritten backup cannot be recovered)")
    if bucket.public_access_block is None:
        gaps.append("public access is not blocked")
    elif not all(bucket.public_access_block.values()):
        gaps.append("public access is not fully blocked")
    if bucket.policy is None:
        gaps.append("no bucket policy requiring TLS")
    elif "aws:SecureTransport" not in bucket.policy:
        gaps.append("the bucket policy does not require TLS")
    return gaps


def _roles(want: Desired, seen: DeployState) -> list[DeployStep]:
    steps: list[DeployStep] = []
    for role in want.roles:
        if role.name not in seen.role_policies:
            steps.append(CreateRole(role.name, role.trust, role.policy))
        elif seen.role_policies[role.name] != role.policy:
            steps.append(UpdateRolePolicy(role.name, role.policy))
    return steps


def _functions(want: Desired, seen: DeployState) -> list[DeployStep]:
    steps: list[DeployStep] = []
    for spec, settings in want.functions:
        current = seen.functions.get(spec.name)
        if current is None:
            steps.append(CreateFunction(spec.name, settings))
            continue
        if current.get("CodeSha256") != want.code_sha256:
            steps.append(UpdateFunctionCode(spec.name, want.code_sha256))
        if any(current.get(k) != v for k, v in settings.items()):
            steps.append(UpdateFunctionConfiguration(spec.name, settings))
    return steps


def _rules(want: Desired, seen: DeployState) -> list[DeployStep]:
    steps: list[DeployStep] = []
    for rule in want.rules:
        settings = rule.settings()
        current = seen.rules.get(rule.name)
        put = PutRule(rule.name, settings)
        target = PutTarget(rule.name, want.target_arn)
        permission = AddPermission(rule.name, want.target, rule.permission_id)
        if current is None:
            steps += [put, target, permission]
            continue
        described = current.description
        if described.get("State") != "ENABLED" or not all(_same(described.get(k), v) for k, v in settings.items()):
            steps.append(put)
        if list(current.targets) != [want.target_arn]:
            steps.append(target)
        if rule.permission_id not in seen.permissions:
            steps.append(permission)
    return steps


def _monitoring(want: Monitoring, seen: DeployState, region: str) -> list[DeployStep]:
    steps: list[DeployStep] = []
    topic_region = want.topic_arn.split(":")[3]
    if topic_region != region:
        raise ConfigError(
            f"alarmTopicArn {want.topic_arn} is in {topic_region}: CloudWatch alarms notify only topics of "
            f"their own region ({region}); name a topic in {region}"
        )
    if want.topic_name is not None and seen.topic == "foreign":
        raise ConfigError(
            f"SNS topic {want.topic_arn} exists and was not created by deploy; "
            "set alarmTopicArn to it to send the alarms there, or choose another resourcePrefix"
        )
    if want.topic_name is not None and seen.topic is None:
        steps.append(CreateTopic(want.topic_name))
    if want.email and want.email not in seen.subscriptions:
        steps.append(Subscribe(want.topic_arn, want.email))
    for alarm in want.alarms:
        current = seen.alarms.get(alarm.name)
        if current is None or alarm.differs_from(current):
            steps.append(PutAlarm(alarm.name, alarm.put_args()))
    if seen.dashboard is None or json.loads(seen.dashboard) != json.loads(want.dashboard_body):
        steps.append(PutDashboard(want.dashboard, want.dashboard_body))
    return steps


def _same(current: Any, wanted: Any) -> bool:
    """Equal, comparing JSON text (an event pattern) as the value it encodes."""
    if isinstance(current, str) and current.startswith("{"):
        return bool(json.loads(current) == json.loads(wanted))
    return bool(current == wanted)


@dataclass(frozen=True)
class InstalledState:
    """What of deploy's resources exists, for --remove."""

    rules: frozenset[str] = frozenset()
    functions: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()
    mappings: int = 0  # event source mappings of the forwarder: tables still protected
    alarms: frozenset[str] = frozenset()  # the fleet's, and any delivery stream's left
    dashboard: bool = False
    topic: bool = False  # the topic deploy created (never one the config names)


def plan_teardown(want: Desired, seen: InstalledState, force: bool = False) -> DeployPlan:
    """What --remove deletes: rules, functions, our roles, the alarms, dashboard and the topic
    deploy created. The bucket and its data stay."""
    if seen.mappings and not force:
        raise UserInputError(
            f"{seen.mappings} table(s) are still protected; run deprovision_tables.py "
            "with {provisionAll: true} first, or pass --force"
        )
    steps: list[DeployStep] = [DeleteRule(r.name) for r in want.rules if r.name in seen.rules]
    steps += [DeleteFunction(f.name) for f, _ in want.functions if f.name in seen.functions]
    steps += [DeleteRole(r.name) for r in reversed(want.roles) if r.name in seen.roles]  # reverse of creation
    fleet = tuple(a.name for a in want.monitoring.alarms)
    # and the delivery streams' alarms left by a forced removal: their topic goes too
    alarms = tuple(n for n in fleet if n in seen.alarms) + tuple(sorted(seen.alarms - set(fleet)))
    if alarms:
        steps.append(DeleteAlarms(alarms))
    if seen.dashboard:
        steps.append(DeleteDashboard(want.monitoring.dashboard))
    if seen.topic and want.monitoring.topic_name is not None:
        steps.append(DeleteTopic(want.monitoring.topic_arn))
    return DeployPlan(tuple(steps))
