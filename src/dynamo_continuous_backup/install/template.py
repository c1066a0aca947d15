"""CloudFormation template equivalent to what deploy.py creates, for infrastructure-as-code users.
The code comes from an S3 artifact that deploy uploads (or parameters naming your own)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import iam
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
    from .deployer import event_pattern

    c = deployer.config
    account, region = deployer.account, deployer.clients.region
    names = iam.role_names(c)
    runtime = deployer.runtime_config()
    env = json.loads(runtime.to_json())
    env["firehoseDeliveryRoleArn"] = "${FirehoseRole.Arn}"
    env.pop("region", None)

    def role(name: str, service: str, policy: dict[str, Any]) -> dict[str, Any]:
        doc = _sub(policy, account, region)
        return {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": name,
                "AssumeRolePolicyDocument": iam.trust(service),
                "Policies": [{"PolicyName": "backup", "PolicyDocument": doc}],
            },
        }

    provisioner = role(
        names["provisioner"], "lambda.amazonaws.com", iam.provisioner_policy(c, account, region, "${FirehoseRole.Arn}")
    )

    def function(name: str, handler: str, role_id: str, timeout: int, memory: int) -> dict[str, Any]:
        return {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "FunctionName": name,
                "Handler": handler,
                "Runtime": LAMBDA_RUNTIME,
                "Timeout": timeout,
                "MemorySize": memory,
                "Architectures": ["x86_64"],
                "Role": {"Fn::GetAtt": [role_id, "Arn"]},
                "Code": {"S3Bucket": {"Ref": "CodeBucket"}, "S3Key": {"Ref": "CodeKey"}},
                "Environment": {"Variables": {"DCB_CONFIG": {"Fn::Sub": json.dumps(env, sort_keys=True)}}},
            },
        }

    resources: dict[str, Any] = {
        "FirehoseRole": role(names["firehose"], "firehose.amazonaws.com", iam.firehose_policy(c)),
        "ForwarderRole": role(names["forwarder"], "lambda.amazonaws.com", iam.forwarder_policy(c, account, region)),
        "ProvisionerRole": provisioner,
        "EnsureFunction": function(
            c.ensure_function_name, "dynamo_continuous_backup.ensure_backup.handler", "ProvisionerRole", 900, 512
        ),
        "ForwarderFunction": function(
            c.forwarder_function_name, "dynamo_continuous_backup.forwarder.handler", "ForwarderRole", 300, 1024
        ),
        "TableEventsRule": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "Name": f"{c.resource_prefix}-table-events",
                "EventPattern": event_pattern(),
                "State": "ENABLED",
                "Targets": [{"Id": "ensure", "Arn": {"Fn::GetAtt": ["EnsureFunction", "Arn"]}}],
            },
        },
        "ReconcileRule": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "Name": f"{c.resource_prefix}-reconcile",
                "ScheduleExpression": c.reconcile_schedule,
                "State": "ENABLED",
                "Targets": [{"Id": "ensure", "Arn": {"Fn::GetAtt": ["EnsureFunction", "Arn"]}}],
            },
        },
    }
    for rule in ("TableEventsRule", "ReconcileRule"):
        resources[f"{rule}Permission"] = {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "FunctionName": {"Ref": "EnsureFunction"},
                "Action": "lambda:InvokeFunction",
                "Principal": "events.amazonaws.com",
                "SourceArn": {"Fn::GetAtt": [rule, "Arn"]},
            },
        }
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
        "Outputs": {
            "EnsureFunctionArn": {"Value": {"Fn::GetAtt": ["EnsureFunction", "Arn"]}},
            "ForwarderFunctionArn": {"Value": {"Fn::GetAtt": ["ForwarderFunction", "Arn"]}},
        },
    }


def write_template(deployer: Deployer, path: str | Path, upload: bool = True) -> str:
    """Write the template; upload the code artifact it points at. Returns the artifact's S3 URL."""
    key = artifact_key(deployer)
    if upload:
        deployer.clients.s3.put_object(Bucket=deployer.config.firehose_delivery_bucket, Key=key, Body=deployer.code)
    Path(path).write_text(json.dumps(build_template(deployer, key), indent=2, sort_keys=False))
    return f"s3://{deployer.config.firehose_delivery_bucket}/{key}"
