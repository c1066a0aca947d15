"""deploy.py: install the product into an account. `plan()` observes and returns the changes
to make (plain data); `execute()` applies them; `--dry-run` only prints the plan. A second
run plans nothing."""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..core.aws import Clients, is_code
from ..core.config import ENV_CONFIG, Config
from ..core.errors import AwsError, ConfigError, UserInputError
from ..provisioning.events import HANDLED_CALLS
from . import iam
from .packaging import LAMBDA_RUNTIME, build_zip, code_sha256, fetch_wheels

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Change:
    op: str  # the executor method that applies it
    target: str  # what it changes, for the printout
    args: dict[str, Any] = field(default_factory=dict, compare=False)

    def __str__(self) -> str:
        return f"{self.op.replace('_', ' ')}: {self.target}"


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    handler: str
    role: str
    timeout: int
    memory: int


def event_pattern() -> dict[str, Any]:
    return {
        "source": ["aws.dynamodb"],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {"eventSource": ["dynamodb.amazonaws.com"], "eventName": list(HANDLED_CALLS)},
    }


class Deployer:
    # A zip to deploy when none is given, instead of building one (tests set it once per session).
    prebuilt_code: ClassVar[bytes | None] = None

    def __init__(
        self, clients: Clients, config: Config, code: bytes | None = None, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.clients = clients
        self.config = config
        self._code = code if code is not None else self.prebuilt_code
        self.sleep = sleep
        self.warnings: list[str] = []

    @property
    def code(self) -> bytes:
        if self._code is None:
            self._code = build_zip(fetch_wheels())
        return self._code

    @functools.cached_property
    def account(self) -> str:
        return str(self.clients.sts.get_caller_identity()["Account"])

    def role_arn(self, kind: str) -> str:
        given = {
            "provisioner": self.config.provisioner_role_arn,
            "forwarder": self.config.lambda_exec_role_arn,
            "firehose": self.config.firehose_delivery_role_arn,
        }[kind]
        return given or f"arn:aws:iam::{self.account}:role/{iam.role_names(self.config)[kind]}"

    def runtime_config(self) -> Config:
        """The config the functions carry: role ARNs resolved, region fixed."""
        return self.config.replace(firehose_delivery_role_arn=self.role_arn("firehose"), region=self.clients.region)

    def functions(self) -> list[FunctionSpec]:
        c = self.config
        return [
            FunctionSpec(
                c.ensure_function_name,
                "dynamo_continuous_backup.ensure_backup.handler",
                self.role_arn("provisioner"),
                900,
                512,
            ),
            FunctionSpec(
                c.forwarder_function_name,
                "dynamo_continuous_backup.forwarder.handler",
                self.role_arn("forwarder"),
                300,
                1024,
            ),
        ]

    def rules(self) -> dict[str, dict[str, Any]]:
        p = self.config.resource_prefix
        return {
            f"{p}-table-events": {"EventPattern": json.dumps(event_pattern(), sort_keys=True)},
            f"{p}-reconcile": {"ScheduleExpression": self.config.reconcile_schedule},
        }

    # -- plan --------------------------------------------------------------------------------
    def plan(self) -> list[Change]:
        changes = self._plan_bucket() + self._plan_roles() + self._plan_functions() + self._plan_rules()
        self._check_cloudtrail()
        return changes

    def _plan_bucket(self) -> list[Change]:
        bucket = self.config.firehose_delivery_bucket
        try:
            self.clients.s3.head_bucket(Bucket=bucket, ExpectedBucketOwner=self.account)
        except Exception as exc:
            if is_code(exc, "404", "NoSuchBucket"):
                return [Change("create_bucket", bucket)]
            if is_code(exc, "403", "AccessDenied"):
                raise AwsError(
                    f"bucket {bucket} exists but belongs to another account or denies access; "
                    "choose another firehoseDeliveryBucket"
                ) from None
            raise
        location = self.clients.s3.get_bucket_location(Bucket=bucket).get("LocationConstraint") or "us-east-1"
        if location != self.clients.region:
            raise ConfigError(
                f"bucket {bucket} is in {location} but the config's region is {self.clients.region}; "
                "use a bucket in the tables' region, or set region"
            )
        self.warnings += [f"bucket {bucket}: {gap}" for gap in self._bucket_gaps(bucket)]
        return []

    def _bucket_gaps(self, bucket: str) -> list[str]:
        s3, gaps = self.clients.s3, []
        if s3.get_bucket_versioning(Bucket=bucket).get("Status") != "Enabled":
            gaps.append("versioning is off (a deleted or overwritten backup cannot be recovered)")
        try:
            block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
            if not all(block.values()):
                gaps.append("public access is not fully blocked")
        except Exception as exc:
            if not is_code(exc, "NoSuchPublicAccessBlockConfiguration"):
                raise
            gaps.append("public access is not blocked")
        try:
            policy = s3.get_bucket_policy(Bucket=bucket)["Policy"]
            if "aws:SecureTransport" not in policy:
                gaps.append("the bucket policy does not require TLS")
        except Exception as exc:
            if not is_code(exc, "NoSuchBucketPolicy"):
                raise
            gaps.append("no bucket policy requiring TLS")
        return gaps

    def _plan_roles(self) -> list[Change]:
        names = iam.role_names(self.config)
        account, region = self.account, self.clients.region
        wanted = {
            "firehose": ("firehose.amazonaws.com", iam.firehose_policy(self.config)),
            "forwarder": ("lambda.amazonaws.com", iam.forwarder_policy(self.config, account, region)),
            "provisioner": (
                "lambda.amazonaws.com",
                iam.provisioner_policy(self.config, account, region, self.role_arn("firehose")),
            ),
        }
        changes = []
        for kind, (service, policy) in wanted.items():
            if self.role_arn(kind).rsplit("/", 1)[1] != names[kind]:
                continue  # the user brought their own role: not ours to change
            args = {"name": names[kind], "trust": iam.trust(service), "policy": policy}
            try:
                self.clients.iam.get_role(RoleName=names[kind])
            except Exception as exc:
                if not is_code(exc, "NoSuchEntity"):
                    raise
                changes.append(Change("create_role", names[kind], args))
                continue
            try:
                current = self.clients.iam.get_role_policy(RoleName=names[kind], PolicyName="backup")["PolicyDocument"]
            except Exception as exc:
                if not is_code(exc, "NoSuchEntity"):
                    raise
                current = None
            current = json.loads(current) if isinstance(current, str) else current
            if current != policy:
                changes.append(Change("update_role_policy", names[kind], args))
        return changes

    def _plan_functions(self) -> list[Change]:
        env = {"Variables": {ENV_CONFIG: self.runtime_config().to_json()}}
        sha = code_sha256(self.code)
        changes = []
        for spec in self.functions():
            settings = {
                "Role": spec.role,
                "Handler": spec.handler,
                "Runtime": LAMBDA_RUNTIME,
                "Timeout": spec.timeout,
                "MemorySize": spec.memory,
                "Environment": env,
            }
            try:
                current = self.clients.lambda_.get_function_configuration(FunctionName=spec.name)
            except Exception as exc:
                if not is_code(exc, "ResourceNotFoundException"):
                    raise
                changes.append(Change("create_function", spec.name, {"name": spec.name, "settings": settings}))
                continue
            if current.get("CodeSha256") != sha:
                changes.append(Change("update_function_code", spec.name, {"name": spec.name}))
            if any(current.get(k) != v for k, v in settings.items()):
                changes.append(
                    Change("update_function_configuration", spec.name, {"name": spec.name, "settings": settings})
                )
        return changes

    def _plan_rules(self) -> list[Change]:
        events, changes = self.clients.events, []
        target_arn = self._function_arn(self.config.ensure_function_name)
        for name, spec in self.rules().items():
            try:
                current = events.describe_rule(Name=name)
                same = all(_same(current.get(k), v) for k, v in spec.items()) and current.get("State") == "ENABLED"
                if not same:
                    changes.append(Change("put_rule", name, {"name": name, "spec": spec}))
                targets = events.list_targets_by_rule(Rule=name)["Targets"]
                if [t["Arn"] for t in targets] != [target_arn]:
                    changes.append(Change("put_target", name, {"rule": name}))
                if not self._has_permission(name):
                    changes.append(Change("add_permission", name, {"rule": name}))
            except Exception as exc:
                if not is_code(exc, "ResourceNotFoundException"):
                    raise
                changes += [
                    Change("put_rule", name, {"name": name, "spec": spec}),
                    Change("put_target", name, {"rule": name}),
                    Change("add_permission", name, {"rule": name}),
                ]
        return changes

    def _function_arn(self, name: str) -> str:
        return f"arn:aws:lambda:{self.clients.region}:{self.account}:function:{name}"

    def _has_permission(self, rule: str) -> bool:
        try:
            policy = json.loads(
                self.clients.lambda_.get_policy(FunctionName=self.config.ensure_function_name)["Policy"]
            )
        except Exception as exc:
            if is_code(exc, "ResourceNotFoundException"):
                return False
            raise
        return any(st.get("Sid") == f"{rule}-invoke" for st in policy.get("Statement", []))

    def _check_cloudtrail(self) -> None:
        """Without a trail logging management events, EventBridge never sees CreateTable."""
        try:
            trails = self.clients.get("cloudtrail").describe_trails()["trailList"]
            for trail in trails:
                status = self.clients.get("cloudtrail").get_trail_status(Name=trail["TrailARN"])
                if status.get("IsLogging"):
                    return
        except Exception as exc:
            self.warnings.append(f"could not check CloudTrail ({exc}); table events need a trail")
            return
        self.warnings.append(
            "no CloudTrail trail is logging management events: CreateTable events will not "
            "reach EventBridge; only the hourly reconcile will cover new tables"
        )

    # -- execute -------------------------------------------------------------------------------
    def execute(self, changes: list[Change]) -> None:
        for change in changes:
            log.info("%s", change)
            getattr(self, f"_{change.op}")(**change.args)

    def _create_bucket(self) -> None:
        s3, bucket = self.clients.s3, self.config.firehose_delivery_bucket
        extra = (
            {}
            if self.clients.region == "us-east-1"
            else {"CreateBucketConfiguration": {"LocationConstraint": self.clients.region}}
        )
        s3.create_bucket(Bucket=bucket, **extra)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        rule: dict[str, Any] = (
            {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": self.config.kms_key_arn}
            if self.config.kms_key_arn
            else {"SSEAlgorithm": "AES256"}
        )
        s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": rule, "BucketKeyEnabled": True}]
            },
        )
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(tls_only_policy(bucket)))

    def _create_role(self, name: str, trust: dict[str, Any], policy: dict[str, Any]) -> None:
        try:
            self.clients.iam.create_role(
                RoleName=name,
                AssumeRolePolicyDocument=json.dumps(trust),
                Description="dynamo-continuous-backup (least privilege)",
            )
        except Exception as exc:
            if not is_code(exc, "EntityAlreadyExists"):
                raise
        self._update_role_policy(name, trust, policy)

    def _update_role_policy(self, name: str, trust: dict[str, Any], policy: dict[str, Any]) -> None:
        self.clients.iam.put_role_policy(RoleName=name, PolicyName="backup", PolicyDocument=json.dumps(policy))

    def _create_function(self, name: str, settings: dict[str, Any]) -> None:
        try:
            self.clients.lambda_.create_function(
                FunctionName=name, Code={"ZipFile": self.code}, Architectures=["x86_64"], **settings
            )
        except Exception as exc:
            if not is_code(exc, "ResourceConflictException"):
                raise

    def _update_function_code(self, name: str) -> None:
        self.clients.lambda_.update_function_code(FunctionName=name, ZipFile=self.code)

    def _update_function_configuration(self, name: str, settings: dict[str, Any]) -> None:
        self.clients.lambda_.update_function_configuration(FunctionName=name, **settings)

    def _put_rule(self, name: str, spec: dict[str, Any]) -> None:
        self.clients.events.put_rule(Name=name, State="ENABLED", Description="dynamo-continuous-backup", **spec)

    def _put_target(self, rule: str) -> None:
        self.clients.events.put_targets(
            Rule=rule, Targets=[{"Id": "ensure", "Arn": self._function_arn(self.config.ensure_function_name)}]
        )

    def _add_permission(self, rule: str) -> None:
        rule_arn = self.clients.events.describe_rule(Name=rule)["Arn"]
        try:
            self.clients.lambda_.add_permission(
                FunctionName=self.config.ensure_function_name,
                StatementId=f"{rule}-invoke",
                Action="lambda:InvokeFunction",
                Principal="events.amazonaws.com",
                SourceArn=rule_arn,
            )
        except Exception as exc:
            if not is_code(exc, "ResourceConflictException"):
                raise

    # -- remove --------------------------------------------------------------------------------
    def plan_remove(self, force: bool = False) -> list[Change]:
        """What --remove deletes: rules, functions, our roles. The bucket and its data stay."""
        mappings = (
            self.clients.lambda_.list_event_source_mappings(FunctionName=self.config.forwarder_function_name).get(
                "EventSourceMappings", []
            )
            if self._exists_function(self.config.forwarder_function_name)
            else []
        )
        if mappings and not force:
            raise UserInputError(
                f"{len(mappings)} table(s) are still protected; run deprovision_tables.py "
                "with {provisionAll: true} first, or pass --force"
            )
        changes = [Change("delete_rule", name, {"name": name}) for name in self.rules() if self._rule_exists(name)]
        changes += [
            Change("delete_function", f.name, {"name": f.name})
            for f in self.functions()
            if self._exists_function(f.name)
        ]
        names = iam.role_names(self.config)
        changes += [
            Change("delete_role", names[k], {"name": names[k]})
            for k in names
            if self.role_arn(k).endswith(f"/{names[k]}") and self._role_exists(names[k])
        ]
        return changes

    def _rule_exists(self, name: str) -> bool:
        return self._exists(lambda: self.clients.events.describe_rule(Name=name))

    def _role_exists(self, name: str) -> bool:
        return self._exists(lambda: self.clients.iam.get_role(RoleName=name))

    def _exists_function(self, name: str) -> bool:
        return self._exists(lambda: self.clients.lambda_.get_function(FunctionName=name))

    @staticmethod
    def _exists(call: Callable[[], Any]) -> bool:
        try:
            call()
            return True
        except Exception as exc:
            if is_code(exc, "ResourceNotFoundException", "NoSuchEntity"):
                return False
            raise

    def _delete_rule(self, name: str) -> None:
        ids = [t["Id"] for t in self.clients.events.list_targets_by_rule(Rule=name)["Targets"]]
        if ids:
            self.clients.events.remove_targets(Rule=name, Ids=ids)
        self.clients.events.delete_rule(Name=name)

    def _delete_function(self, name: str) -> None:
        self.clients.lambda_.delete_function(FunctionName=name)

    def _delete_role(self, name: str) -> None:
        for policy in self.clients.iam.list_role_policies(RoleName=name)["PolicyNames"]:
            self.clients.iam.delete_role_policy(RoleName=name, PolicyName=policy)
        self.clients.iam.delete_role(RoleName=name)


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


def _same(current: Any, wanted: Any) -> bool:
    if isinstance(current, str) and current.startswith("{"):
        return json.loads(current) == json.loads(wanted)
    return bool(current == wanted)
