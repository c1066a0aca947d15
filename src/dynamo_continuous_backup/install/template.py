"""CloudFormation template equivalent to what deploy.py creates, for infrastructure-as-code users.
The code comes from an S3 artifact that deploy uploads (or parameters naming your own)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core import naming
from ..core.config import ENV_CONFIG
from . import spec
from .packaging import LAMBDA_RUNTIME, code_sha256

if TYPE_CHECKING:
    from .deployer import Deployer

SUB_ACCOUNT = "${AWS::AccountId}"
SUB_REGION = "${AWS::Region}"


def artifact_key(deployer: Deployer) -> str:
    sha = code_sha256(deployer.code).replace("/", "_").replace("+", "-").rstrip("=")
    return f"{deployer.config.prefix}/@artifacts/dynamo-continuous-backup-{sha}.zip"


def _sub(policy: dict[str, Any], account: str, region: str) -> dict[str, Any]:
    """Replace the deploying account/region in a policy with CloudFormation pseudo parameters."""
    text = json.dumps(policy).replace(f":{account}:", f":{SUB_ACCOUNT}:").replace(f":{region}:", f":{SUB_REGION}:")
    return {"Fn::Sub": text} if "${" in text else json.loads(text)


def build_template(deployer: Deployer, code_key: str) -> dict[str, Any]:
    """The resources of spec.py as CloudFormation: what deploy creates, bucket aside."""
    c = deployer.config
    account, region = deployer.account, deployer.clients.region
    env = json.loads(deployer.runtime_config().to_json())
    # A role the config names is the user's, used as it is (as deploy does); the others are the stack's.
    given = spec.given_role_arns(c)
    firehose_arn = given["firehose"] or "${FirehoseRole.Arn}"
    env["firehoseDeliveryRoleArn"] = firehose_arn
    env.pop("region", None)
    watch = spec.monitoring(c, account, region)
    if watch.topic_name is not None:
        env["alarmTopicArn"] = "${AlarmTopic}"
    roles = [r for r in spec.roles(c, account, region, firehose_arn) if not given[r.kind]]
    role_arns: dict[str, Any] = {kind: arn for kind, arn in given.items() if arn}
    role_arns.update({r.kind: {"Fn::GetAtt": [r.key, "Arn"]} for r in roles})
    functions = spec.functions(c)
    ensure = next(f.key for f in functions if f.name == c.ensure_function_name)  # every rule's target
    resources: dict[str, Any] = {}
    for r in roles:
        resources[r.key] = {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": r.name,
                "AssumeRolePolicyDocument": r.trust,
                "Policies": [{"PolicyName": spec.ROLE_POLICY, "PolicyDocument": _sub(r.policy, account, region)}],
            },
        }
    for f in functions:
        resources[f.key] = {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "FunctionName": f.name,
                "Handler": f.handler,
                "Runtime": LAMBDA_RUNTIME,
                "Timeout": f.timeout,
                "MemorySize": f.memory,
                "Architectures": spec.ARCHITECTURES,
                "Role": role_arns[f.role],
                "Code": {"S3Bucket": {"Ref": "CodeBucket"}, "S3Key": {"Ref": "CodeKey"}},
                "Environment": {"Variables": {ENV_CONFIG: {"Fn::Sub": json.dumps(env, sort_keys=True)}}},
                "LoggingConfig": f.logging(),
            },
        }
    for rule in spec.rules(c):
        trigger = {"EventPattern": rule.pattern} if rule.pattern is not None else {"ScheduleExpression": rule.schedule}
        resources[rule.key] = {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "Name": rule.name,
                **trigger,
                "State": "ENABLED",
                "Targets": [{"Id": spec.TARGET_ID, "Arn": {"Fn::GetAtt": [ensure, "Arn"]}}],
            },
        }
    for rule in spec.rules(c):
        resources[f"{rule.key}Permission"] = {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "FunctionName": {"Ref": ensure},
                "Action": "lambda:InvokeFunction",
                "Principal": "events.amazonaws.com",
                "SourceArn": {"Fn::GetAtt": [rule.key, "Arn"]},
            },
        }
    resources.update(_monitoring(watch, region))
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "dynamo-continuous-backup: continuous DynamoDB backup to S3 (the bucket is not managed here)",
        "Parameters": {
            "CodeBucket": {
                "Type": "String",
                "Default": c.firehose_delivery_bucket,
                "Description": "bucket holding the Lambda code zip",
            },
            "CodeKey": {"Type": "String", "Default": code_key, "Description": "key of the Lambda code zip"},
        },
        "Resources": resources,
        "Outputs": {f"{f.key}Arn": {"Value": {"Fn::GetAtt": [f.key, "Arn"]}} for f in functions},
    }


def _monitoring(watch: spec.Monitoring, region: str) -> dict[str, Any]:
    """The alarm topic (unless the config names one), its email subscription, the alarms and the dashboard."""
    resources: dict[str, Any] = {}
    topic: Any = watch.topic_arn
    if watch.topic_name is not None:
        tags = [{"Key": naming.TAG_OWNER, "Value": naming.OWNER}]
        resources["AlarmTopic"] = {
            "Type": "AWS::SNS::Topic",
            "Properties": {"TopicName": watch.topic_name, "Tags": tags},
        }
        topic = {"Ref": "AlarmTopic"}
    if watch.email:
        resources["AlarmEmailSubscription"] = {
            "Type": "AWS::SNS::Subscription",
            "Properties": {"TopicArn": topic, "Protocol": "email", "Endpoint": watch.email},
        }
    for alarm in watch.alarms:
        props = {**alarm.put_args(), "AlarmActions": [topic], "OKActions": [topic]}
        key = "Alarm" + re.sub(r"[^A-Za-z0-9]", "", alarm.name.title())  # logical ids are alphanumeric
        resources[key] = {"Type": "AWS::CloudWatch::Alarm", "Properties": props}
    body = watch.dashboard_body.replace(f'"region": "{region}"', f'"region": "{SUB_REGION}"')
    resources["Dashboard"] = {
        "Type": "AWS::CloudWatch::Dashboard",
        "Properties": {"DashboardName": watch.dashboard, "DashboardBody": {"Fn::Sub": body}},
    }
    return resources


def write_template(deployer: Deployer, path: str | Path, upload: bool = True) -> str:
    """Write the template; upload the code artifact it points at. Returns the artifact's S3 URL."""
    key = artifact_key(deployer)
    if upload:
        deployer.clients.s3.put_object(Bucket=deployer.config.firehose_delivery_bucket, Key=key, Body=deployer.code)
    Path(path).write_text(json.dumps(build_template(deployer, key), indent=2, sort_keys=False))
    return f"s3://{deployer.config.firehose_delivery_bucket}/{key}"
