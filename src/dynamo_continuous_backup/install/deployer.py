"""deploy.py: install the product into an account. `plan()` observes the account and returns
the steps to take (planner.py decides, from spec.py); an executor applies them (executor.py)
or, for --dry-run, prints them. A second run plans nothing."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from typing import Any, ClassVar

from ..core import alarms, naming
from ..core.aws import Clients
from ..core.config import ENV_CONFIG, Config
from ..core.errors import AwsError, AwsNotFoundError
from ..provisioning.status import bucket_lifecycle
from ..provisioning.steps import Printer
from . import iam, spec
from .executor import DeployExecutor
from .packaging import build_zip, code_sha256, fetch_wheels
from .planner import (
    BucketState,
    DeployPlan,
    DeployState,
    Desired,
    InstalledState,
    RuleState,
    plan_deploy,
    plan_teardown,
)
from .spec import event_pattern, tls_only_policy

__all__ = ["Deployer", "event_pattern", "tls_only_policy"]


class Deployer:
    # A zip to deploy when none is given, instead of building one (tests set it once per session).
    prebuilt_code: ClassVar[bytes | None] = None

    def __init__(
        self,
        clients: Clients,
        config: Config,
        code: bytes | None = None,
        sleep: Callable[[float], None] = time.sleep,
        trail_needed: bool = True,
    ) -> None:
        self.clients = clients
        self.config = config
        self.trail_needed = trail_needed  # False: something else delivers table events (the local runtime)
        self._code = code if code is not None else self.prebuilt_code
        self.sleep = sleep

    @property
    def code(self) -> bytes:
        if self._code is None:
            self._code = build_zip(fetch_wheels())
        return self._code

    @functools.cached_property
    def account(self) -> str:
        return str(self.clients.sts.get_caller_identity()["Account"])

    def role_arn(self, kind: str) -> str:
        given = spec.given_role_arns(self.config)[kind]
        return given or f"arn:aws:iam::{self.account}:role/{iam.role_names(self.config)[kind]}"

    def runtime_config(self) -> Config:
        """The config the functions carry: role ARNs resolved, region fixed."""
        return self.config.replace(
            firehose_delivery_role_arn=self.role_arn("firehose"),
            region=self.clients.region,
            alarm_topic_arn=alarms.topic_arn(self.config, self.account, self.clients.region),
        )

    def function_arn(self, name: str) -> str:
        return f"arn:aws:lambda:{self.clients.region}:{self.account}:function:{name}"

    def desired(self, code: bool = True) -> Desired:
        """What deploy wants; without `code`, no zip is built (removal needs none)."""
        c, region = self.config, self.clients.region
        roles = spec.roles(c, self.account, region, self.role_arn("firehose"))
        env = {"Variables": {ENV_CONFIG: self.runtime_config().to_json()}}
        return Desired(
            bucket=c.firehose_delivery_bucket,
            region=region,
            kms_key_arn=c.kms_key_arn,
            # A role the config names is the user's: not ours to change or delete.
            roles=tuple(r for r in roles if self.role_arn(r.kind).endswith(f"/{r.name}")),
            functions=tuple((f, f.settings(self.role_arn(f.role), env)) for f in spec.functions(c)),
            code_sha256=code_sha256(self.code) if code else "",
            rules=spec.rules(c),
            target=c.ensure_function_name,
            target_arn=self.function_arn(c.ensure_function_name),
            monitoring=spec.monitoring(c, self.account, region),
            lifecycle=spec.lifecycle_rule(c.prefix),
        )

    def executor(self, printer: Printer | None = None) -> DeployExecutor:
        return DeployExecutor(self.clients, lambda: self.code, printer)

    # -- observe and plan ---------------------------------------------------------------------
    def plan(self) -> DeployPlan:
        want = self.desired()
        return plan_deploy(want, self.observe(want))

    def plan_remove(self, force: bool = False) -> DeployPlan:
        """What --remove deletes: rules, functions, our roles. The bucket and its data stay."""
        want = self.desired(code=False)
        return plan_teardown(want, self.observe_installed(want), force)

    def observe(self, want: Desired) -> DeployState:
        return DeployState(
            bucket=self._bucket(want.bucket),
            role_policies={r.name: self._role_policy(r.name) for r in want.roles if self._role_exists(r.name)},
            functions={f.name: c for f, _ in want.functions if (c := self._function(f.name)) is not None},
            rules={r.name: s for r in want.rules if (s := self._rule(r.name)) is not None},
            permissions=self._permissions(want.target),
            trail=self._trail(),
            topic=self._topic(want.monitoring.topic_arn),
            subscriptions=self._subscriptions(want.monitoring.topic_arn),
            alarms=self._alarms(tuple(a.name for a in want.monitoring.alarms)),
            dashboard=self._dashboard(want.monitoring.dashboard),
        )

    def observe_installed(self, want: Desired) -> InstalledState:
        forwarder = self.config.forwarder_function_name
        functions = frozenset(f.name for f, _ in want.functions if self._function(f.name) is not None)
        mappings = (
            self.clients.lambda_.list_event_source_mappings(FunctionName=forwarder).get("EventSourceMappings", [])
            if forwarder in functions
            else []
        )
        return InstalledState(
            rules=frozenset(r.name for r in want.rules if self._rule(r.name) is not None),
            functions=functions,
            roles=frozenset(r.name for r in want.roles if self._role_exists(r.name)),
            mappings=len(mappings),
            alarms=frozenset(self._alarms(tuple(a.name for a in want.monitoring.alarms))) | self._delivery_alarms(),
            dashboard=self._dashboard(want.monitoring.dashboard) is not None,
            topic=want.monitoring.topic_name is not None and self._topic(want.monitoring.topic_arn) == "ours",
        )

    def _bucket(self, bucket: str) -> BucketState:
        s3 = self.clients.s3
        try:
            s3.head_bucket(Bucket=bucket, ExpectedBucketOwner=self.account)
        except AwsNotFoundError:
            return BucketState()
        except AwsError as exc:
            if exc.code in ("403", "AccessDenied"):
                return BucketState(exists=True, foreign=True)
            raise
        location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint") or "us-east-1"
        if location != self.clients.region:  # the planner refuses it: its protections do not matter
            return BucketState(exists=True, region=location)
        try:
            block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        except AwsError as exc:
            if exc.code != "NoSuchPublicAccessBlockConfiguration":
                raise
            block = None
        try:
            policy = s3.get_bucket_policy(Bucket=bucket)["Policy"]
        except AwsError as exc:
            if exc.code != "NoSuchBucketPolicy":
                raise
            policy = None
        versioning = s3.get_bucket_versioning(Bucket=bucket).get("Status")
        return BucketState(True, False, location, versioning, block, policy, bucket_lifecycle(self.clients, bucket))

    def _role_exists(self, name: str) -> bool:
        try:
            self.clients.iam.get_role(RoleName=name)
        except AwsNotFoundError:
            return False
        return True

    def _role_policy(self, name: str) -> dict[str, Any] | None:
        """The role's policy document, None when it has none."""
        try:
            current = self.clients.iam.get_role_policy(RoleName=name, PolicyName=spec.ROLE_POLICY)["PolicyDocument"]
        except AwsNotFoundError:
            return None
        return json.loads(current) if isinstance(current, str) else current  # type: ignore[no-any-return]

    def _function(self, name: str) -> dict[str, Any] | None:
        try:
            return self.clients.lambda_.get_function_configuration(FunctionName=name)  # type: ignore[no-any-return]
        except AwsNotFoundError:
            return None

    def _rule(self, name: str) -> RuleState | None:
        try:
            described = self.clients.events.describe_rule(Name=name)
        except AwsNotFoundError:
            return None
        targets = self.clients.events.list_targets_by_rule(Rule=name)["Targets"]
        return RuleState(described, tuple(t["Arn"] for t in targets))

    def _permissions(self, function: str) -> frozenset[str]:
        try:
            policy = json.loads(self.clients.lambda_.get_policy(FunctionName=function)["Policy"])
        except AwsNotFoundError:
            return frozenset()
        return frozenset(st.get("Sid") for st in policy.get("Statement", []))

    def _trail(self) -> bool | str:
        """Without a trail logging management events, EventBridge never sees CreateTable."""
        if not self.trail_needed:
            return True
        cloudtrail = self.clients.get("cloudtrail")
        try:
            trails = cloudtrail.describe_trails()["trailList"]
            return any(cloudtrail.get_trail_status(Name=t["TrailARN"]).get("IsLogging") for t in trails)
        except AwsError as exc:
            return str(exc)

    def _topic(self, arn: str) -> str | None:
        """ "ours" when tagged so by deploy, "foreign" when not, None when there is no such topic."""
        try:
            tags = self.clients.get("sns").list_tags_for_resource(ResourceArn=arn)["Tags"]
        except AwsNotFoundError:
            return None
        return "ours" if {"Key": naming.TAG_OWNER, "Value": naming.OWNER} in tags else "foreign"

    def _subscriptions(self, arn: str) -> frozenset[str]:
        sns, found = self.clients.get("sns"), set()
        try:
            for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=arn):
                found |= {s["Endpoint"] for s in page["Subscriptions"]}
        except AwsNotFoundError:
            pass
        return frozenset(found)

    def _alarms(self, names: tuple[str, ...]) -> dict[str, dict[str, Any]]:
        answer = self.clients.get("cloudwatch").describe_alarms(AlarmNames=list(names), AlarmTypes=["MetricAlarm"])
        return {a["AlarmName"]: a for a in answer["MetricAlarms"]}

    def _delivery_alarms(self) -> frozenset[str]:
        """The delivery streams' alarms the provisioner made (`RESOURCEPREFIX-delivery-*`)."""
        prefix = f"{self.config.resource_prefix}-delivery-"
        pages = self.clients.get("cloudwatch").get_paginator("describe_alarms")
        return frozenset(
            a["AlarmName"]
            for page in pages.paginate(AlarmNamePrefix=prefix, AlarmTypes=["MetricAlarm"])
            for a in page["MetricAlarms"]
        )

    def _dashboard(self, name: str) -> str | None:
        try:
            return str(self.clients.get("cloudwatch").get_dashboard(DashboardName=name)["DashboardBody"])
        except AwsNotFoundError:
            return None
