"""Least-privilege policy documents for the three roles (pure; deploy and the template use them).

No write action is ever granted on `*`; PassRole names the Firehose role only and is
conditioned on the service it is passed to; S3 access is limited to the backup prefix.
"""

from __future__ import annotations

from typing import Any

from ..core import naming
from ..core.config import Config

Policy = dict[str, Any]


def trust(service: str) -> Policy:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }


def _logs(account: str, region: str, function: str) -> dict[str, Any]:
    return {
        "Effect": "Allow",
        "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": f"arn:aws:logs:{region}:{account}:log-group:/aws/lambda/{function}:*",
    }


def role_names(config: Config) -> dict[str, str]:
    p = config.resource_prefix
    return {"provisioner": f"{p}-provisioner", "forwarder": f"{p}-forwarder", "firehose": f"{p}-firehose"}


# Under PREFIX/, the folders only the provisioner (ensure, checkpoints, backfill) or the CLI
# write; restore trusts what they hold. The forwarder writes only under @oversize/.
TRUSTED_FOLDERS = ("@timelines", "@snapshots", "@schemas", "@imports")


def _deny_put(bucket: str, config: Config, folders: tuple[str, ...]) -> dict[str, Any]:
    """A Deny that no Allow overrides: this role never writes under these folders of the prefix."""
    return {
        "Effect": "Deny",
        "Action": "s3:PutObject",
        "Resource": [f"{bucket}/{config.prefix}/{folder}/*" for folder in folders],
    }


def firehose_policy(config: Config) -> Policy:
    """Firehose writes change objects under PREFIX/TABLE/ and failed ones under @errors/; the
    Deny keeps it out of every folder restore trusts (table names never start with '@')."""
    bucket = f"arn:aws:s3:::{config.firehose_delivery_bucket}"
    statements: list[dict[str, Any]] = [
        {
            "Effect": "Allow",
            "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
            "Resource": bucket,
        },
        {
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
            "Resource": f"{bucket}/{config.prefix}/*",
        },
        _deny_put(bucket, config, (*TRUSTED_FOLDERS, "@oversize")),
    ]
    if config.kms_key_arn:
        statements.append(
            {"Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": config.kms_key_arn}
        )
    return {"Version": "2012-10-17", "Statement": statements}


def forwarder_policy(config: Config, account: str, region: str) -> Policy:
    bucket = f"arn:aws:s3:::{config.firehose_delivery_bucket}"
    statements: list[dict[str, Any]] = [
        _logs(account, region, config.forwarder_function_name),
        {
            "Effect": "Allow",
            "Action": ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"],
            "Resource": f"arn:aws:dynamodb:{region}:{account}:table/*/stream/*",
        },
        {"Effect": "Allow", "Action": "dynamodb:ListStreams", "Resource": "*"},  # read-only, has no resource
        {
            "Effect": "Allow",
            "Action": ["firehose:PutRecordBatch", "firehose:PutRecord"],
            "Resource": f"arn:aws:firehose:{region}:{account}:deliverystream/*",
        },
        {
            # create only: a PutObject without If-None-Match (one that could replace a stored
            # oversize record) is not allowed (capture/forwarder.py writes with IfNoneMatch='*')
            "Effect": "Allow",
            "Action": "s3:PutObject",
            "Resource": f"{bucket}/{config.prefix}/@oversize/*",
            "Condition": {"Null": {"s3:if-none-match": "false"}},
        },
    ]
    if config.kms_key_arn:
        statements.append(
            {"Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": config.kms_key_arn}
        )
    return {"Version": "2012-10-17", "Statement": statements}


def provisioner_policy(config: Config, account: str, region: str, firehose_role_arn: str) -> Policy:
    bucket = f"arn:aws:s3:::{config.firehose_delivery_bucket}"
    table = f"arn:aws:dynamodb:{region}:{account}:table/*"
    forwarder_arn = f"arn:aws:lambda:{region}:{account}:function:{config.forwarder_function_name}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            _logs(account, region, config.ensure_function_name),
            {
                "Effect": "Allow",
                "Action": [
                    "dynamodb:ListTables",
                    "dynamodb:ListStreams",
                    "lambda:ListEventSourceMappings",
                    "lambda:GetEventSourceMapping",
                    "firehose:ListDeliveryStreams",
                    "cloudwatch:DescribeAlarms",
                ],
                "Resource": "*",
            },  # list/read calls that accept no resource
            {
                "Effect": "Allow",
                "Action": [
                    "dynamodb:DescribeTable",
                    "dynamodb:UpdateTable",
                    "dynamodb:DescribeTimeToLive",
                    "dynamodb:Scan",
                    "dynamodb:DescribeStream",
                    # read a removed table's stream to prove it was delivered before removing its mapping
                    "dynamodb:GetShardIterator",
                    "dynamodb:GetRecords",
                ],
                "Resource": [table, f"{table}/stream/*"],
            },
            {
                "Effect": "Allow",
                "Action": [
                    "firehose:CreateDeliveryStream",
                    "firehose:DeleteDeliveryStream",
                    "firehose:DescribeDeliveryStream",
                    "firehose:ListTagsForDeliveryStream",
                    "firehose:TagDeliveryStream",
                    "firehose:UntagDeliveryStream",
                    "firehose:UpdateDestination",  # our streams' processors (the tenant layout's de-aggregation)
                ],
                "Resource": f"arn:aws:firehose:{region}:{account}:deliverystream/*",
            },
            {
                "Effect": "Allow",
                "Action": [
                    "lambda:CreateEventSourceMapping",
                    "lambda:UpdateEventSourceMapping",
                    "lambda:DeleteEventSourceMapping",
                ],
                "Resource": "*",
                # Event source mappings have no ARN at creation; scope them to our forwarder.
                "Condition": {"StringEquals": {"lambda:FunctionArn": forwarder_arn}},
            },
            {
                "Effect": "Allow",
                "Action": "lambda:GetFunction",
                "Resource": forwarder_arn,
            },
            {
                # each delivery stream's alarms (core/alarms.py), and no other alarm
                "Effect": "Allow",
                "Action": ["cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms"],
                "Resource": f"arn:aws:cloudwatch:{region}:{account}:alarm:{config.resource_prefix}-delivery-*",
            },
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": f"{bucket}/{config.prefix}/*"},
            _deny_put(bucket, config, ("@oversize",)),  # the forwarder's alone: never replaced by ensure
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket},
            *_retention(bucket, config),
            {
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": firehose_role_arn,
                "Condition": {"StringEquals": {"iam:PassedToService": "firehose.amazonaws.com"}},
            },
            {"Effect": "Allow", "Action": "iam:GetRole", "Resource": firehose_role_arn},
        ],
    }


WRITE_PREFIXES = (
    "Create",
    "Update",
    "Delete",
    "Put",
    "Tag",
    "Untag",
    "Pass",
    "Attach",
    "Detach",
    "Enable",
    "Disable",
    "Remove",
    "Add",
    "Set",
    "Abort",
    "Modify",
    "Restore",
    "Import",
    "Start",
    "Stop",
    "Invoke",
    "Publish",
)


def write_actions_on_star(policy: Policy) -> list[str]:
    """Write actions granted on Resource '*' without a condition (what the tests forbid)."""
    found = []
    for st in policy["Statement"]:
        resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        if "*" in resources and "Condition" not in st:
            found += [a for a in actions if a.split(":", 1)[1].startswith(WRITE_PREFIXES) or a.endswith("*")]
    return found


# Every folder beside the changes but the bases: what retention never deletes. A unit test
# finds every "@..." folder the package names and checks each is here or @snapshots.
KEPT_FOLDERS = (
    naming.TIMELINES,
    naming.SCHEMAS,
    naming.OVERSIZE,
    naming.ERRORS,
    "@imports",
    "@athena",  # and @athena-results
    "@artifacts",
)


def _retention(bucket: str, config: Config) -> list[dict[str, Any]]:
    """With `changeRetentionDays`, checkpoints remove old change objects and the bases no kept
    time uses: delete is allowed under the prefix and denied in every other `@` folder."""
    if config.change_retention_days <= 0:
        return []
    return [
        {"Effect": "Allow", "Action": "s3:DeleteObject", "Resource": f"{bucket}/{config.prefix}/*"},
        {
            "Effect": "Deny",
            "Action": "s3:DeleteObject",
            "Resource": [f"{bucket}/{config.prefix}/{folder}*" for folder in KEPT_FOLDERS],
        },
    ]


def athena_user_policy(config: Config, account: str, region: str) -> Policy:
    """What the identity running `--engine athena` needs (SECURITY.md prints it). No role deploy
    creates runs Athena, so none of them gets any of this."""
    bucket = f"arn:aws:s3:::{config.firehose_delivery_bucket}"
    db = config.athena_database
    glue = f"arn:aws:glue:{region}:{account}"
    output = config.athena_results.removeprefix("s3://")
    out_bucket = output.split("/", 1)[0]
    statements: list[dict[str, Any]] = [
        {
            "Effect": "Allow",
            "Action": [
                "athena:StartQueryExecution",
                "athena:GetQueryExecution",
                "athena:GetQueryResults",
                "athena:StopQueryExecution",
            ],
            "Resource": f"arn:aws:athena:{region}:{account}:workgroup/{config.athena_workgroup}",
        },
        {
            "Effect": "Allow",
            "Action": ["glue:GetDatabase", "glue:CreateDatabase", "glue:GetTable", "glue:CreateTable"],
            "Resource": [f"{glue}:catalog", f"{glue}:database/{db}", f"{glue}:table/{db}/*"],
        },
        {"Effect": "Allow", "Action": ["s3:GetBucketLocation", "s3:ListBucket"], "Resource": bucket},
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{bucket}/{config.prefix}/*"},
        {
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
            "Resource": [
                f"{bucket}/{config.prefix}/@imports/*",
                f"{bucket}/{config.prefix}/@snapshots/*",  # checkpoints: UNLOAD and the manifest
            ],
        },
        {
            "Effect": "Allow",
            "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
            "Resource": f"arn:aws:s3:::{out_bucket}",
        },
        {
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"],
            "Resource": f"arn:aws:s3:::{output}*",
        },
        {
            "Effect": "Allow",
            "Action": [
                "dynamodb:ImportTable",
                "dynamodb:DescribeImport",
                "dynamodb:DescribeTable",
                "dynamodb:UpdateTimeToLive",
            ],
            "Resource": [f"arn:aws:dynamodb:{region}:{account}:table/*"],
        },
        {
            "Effect": "Allow",
            "Action": [
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:DescribeLogGroups",
                "logs:DescribeLogStreams",
                "logs:PutLogEvents",
                "logs:PutRetentionPolicy",
            ],
            "Resource": f"arn:aws:logs:{region}:{account}:log-group:/aws-dynamodb/*",
        },
    ]
    # an Athena checkpoint indexes its base (timeline_store.record_base), as every base writer does
    statements.append(
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"{bucket}/{config.prefix}/@timelines/*/bases/*"}
    )
    if config.change_retention_days > 0:  # an Athena checkpoint then prunes, as every checkpoint does
        statements += [
            {
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": [
                    f"{bucket}/{config.prefix}/@timelines/*/pruned/*",
                    f"{bucket}/{config.prefix}/@timelines/*/removed/*",
                ],
            },
            *_retention(bucket, config),
        ]
    if config.kms_key_arn:
        statements.append(
            {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": config.kms_key_arn}
        )
    return {"Version": "2012-10-17", "Statement": statements}
