"""Helpers several test files share: the CLI in-process, config files, what landed in S3 or in
a table, and the drivers of the forwarder and of backfill (fakes live in fakes.py)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from dynamo_continuous_backup.capture.forwarder import Forwarder
from dynamo_continuous_backup.core import naming
from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.config import Config

from .fakes import FakeFirehose, client_error

ROOT = Path(__file__).resolve().parents[1]
BUCKET = "backup-bucket"
REGION = "us-east-1"
PREFIX = "backups"  # the `config` fixture's firehoseDeliveryPrefix
# Every character a JSON encoder may escape (and spell differently), plus the characters a
# naive key text could mistake for its own structure (separators, digits, quotes, colons).
HARD = [chr(c) for c in range(0x20)] + ["\x7f", '"', "\\", "/", ":", "|", "1", "S", "é", "😀", "\u2028", "\ufeff"]


def cli(*args: str) -> tuple[int, str, str]:
    """Run the dynamo-backup CLI in-process: (exit code, stdout, stderr)."""
    from dynamo_continuous_backup.cli.main import UI, main

    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), UI(out, err))
    return code, out.getvalue(), err.getvalue()


def files(tmp_path: Path, config: Config, whitelist: str, **extra: object) -> tuple[str, str]:
    """A whitelist file and a file of `config` (plus `extra` keys): their paths, for the CLI."""
    cfg = json.loads(config.to_json())
    cfg.update(extra)
    (tmp_path / "c.hjson").write_text(json.dumps(cfg))
    (tmp_path / "w.hjson").write_text(whitelist)
    return str(tmp_path / "w.hjson"), str(tmp_path / "c.hjson")


def statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    """An IAM policy's statements, as a list even when the policy holds one."""
    st = policy["Statement"]
    return st if isinstance(st, list) else [st]


def one_module_zip(module: str, source: str) -> bytes:
    """A Lambda code zip holding one module."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(f"{module}.py", source)
    return buf.getvalue()


def s3_records(aws: Clients, prefix: str) -> list[dict[str, Any]]:
    """Every backup line under `prefix`, in object-key then line order."""
    from dynamo_continuous_backup.core.records import iter_lines

    out: list[dict[str, Any]] = []
    for page in aws.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for obj in sorted(page.get("Contents", []), key=lambda o: o["Key"]):
            out += iter_lines(aws.s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read())
    return out


def contents(aws: Clients, table: str, keys: tuple[str, ...] = ("pk", "sk")) -> dict[str, Any]:
    """A table's items in their canonical stored form, by their key attributes."""
    from dynamo_continuous_backup.core.records import json_form
    from dynamo_continuous_backup.restore.state import canonical

    items = [
        canonical(json_form(i))
        for p in aws.dynamodb.get_paginator("scan").paginate(TableName=table)
        for i in p["Items"]
    ]
    return {json.dumps([i.get(k) for k in keys]): i for i in items}


# -- the forwarder ---------------------------------------------------------------------------


def delivery_stream(aws: Clients, config: Config, table: str) -> None:
    """The delivery stream provisioning would create for `table` (the `config` fixture's role)."""
    role = aws.iam.get_role(RoleName="dynamo-backup-firehose")["Role"]["Arn"]
    aws.firehose.create_delivery_stream(
        DeliveryStreamName=naming.delivery_stream_name(table),
        ExtendedS3DestinationConfiguration={
            "RoleARN": role,
            "BucketARN": f"arn:aws:s3:::{BUCKET}",
            "Prefix": naming.changes_prefix(config.prefix, table),
        },
    )


def make_forwarder(firehose: Any, s3: Any = None) -> Forwarder:
    """A forwarder to the `config` fixture's bucket and prefix that never really waits
    (no `s3`: a test whose records are never too large for Firehose)."""
    return Forwarder(firehose, s3, BUCKET, PREFIX, sleep=lambda s: None)


def timed_forwarder(firehose: Any, s3: Any = None) -> tuple[Forwarder, list[float]]:
    """A forwarder whose clock moves one second per reading and whose sleeps are recorded."""
    sleeps: list[float] = []
    clock = iter(range(10**6))
    fwd = Forwarder(firehose, s3, BUCKET, PREFIX, sleep=sleeps.append, clock=lambda: float(next(clock)))
    return fwd, sleeps


def firehose_down(aws: Clients, config: Config, **options: Any) -> Forwarder:
    """A forwarder whose Firehose fails every call, with a clock that runs out its time."""
    clock = iter(range(0, 10_000, 5))
    down = client_error("ServiceUnavailableException", "PutRecordBatch", 503, "down")
    return Forwarder(
        FakeFirehose(aws.firehose, fail=lambda n: down),
        aws.s3,
        BUCKET,
        config.prefix,
        sleep=lambda s: None,
        clock=lambda: float(next(clock)),
        **options,
    )


def run_like_lambda(event: dict[str, Any], fwd: Forwarder, limit: int = 50) -> int:
    """Invoke until the batch succeeds, resuming at the reported record, as Lambda does."""
    from dynamo_continuous_backup import forwarder

    records = event["Records"]
    for invocation in range(1, limit + 1):
        failures = forwarder.handler({"Records": records}, None, fwd)["batchItemFailures"]
        if not failures:
            return invocation
        seq = failures[0]["itemIdentifier"]
        records = records[next(i for i, r in enumerate(records) if r["dynamodb"]["SequenceNumber"] == seq) :]
    raise AssertionError("never delivered")


# -- backfill --------------------------------------------------------------------------------


def run_with_id(backfill: Any, run_id: str) -> Any:
    """Start `backfill` as run `run_id` (so a test can resume that run after killing it)."""
    backfill._put_json(
        backfill.run_prefix(run_id) + "run.json",
        {"runId": run_id, "table": backfill.table, "segments": backfill.segments, "startTime": 0.0},
    )
    return backfill.run(run_id)


# -- the CloudFormation template -------------------------------------------------------------


def stack_resources_present(template: dict[str, Any], aws: Clients) -> dict[str, bool]:
    """Whether each resource of `template` exists on the account, by logical id, looked up by the
    name the template gives it. A type with no lookup here fails: a new type needs one."""
    from dynamo_continuous_backup.core.errors import AwsNotFoundError

    resources = template["Resources"]

    def name(value: Any) -> str:
        if isinstance(value, dict) and "Ref" in value:  # a named resource of the template (a topic)
            return name(resources[value["Ref"]]["Properties"]["TopicName"])
        assert isinstance(value, str), f"no lookup for a name given as {value}"
        return value

    def topic_arn(value: Any) -> str:
        return f"arn:aws:sns:{aws.region}:{aws.sts.get_caller_identity()['Account']}:{name(value)}"

    def exists(kind: str, p: dict[str, Any]) -> bool:
        if kind == "AWS::IAM::Role":
            names = aws.iam.list_role_policies(RoleName=name(p["RoleName"]))["PolicyNames"]
            return names == [policy["PolicyName"] for policy in p.get("Policies", [])]
        if kind == "AWS::Lambda::Function":
            return bool(aws.lambda_.get_function(FunctionName=name(p["FunctionName"])))
        if kind == "AWS::Events::Rule":
            targets = aws.events.list_targets_by_rule(Rule=name(p["Name"]))["Targets"]
            return [t["Id"] for t in targets] == [t["Id"] for t in p["Targets"]]
        if kind == "AWS::Lambda::Permission":  # a statement letting the rule invoke the function
            rule = name(resources[p["SourceArn"]["Fn::GetAtt"][0]]["Properties"]["Name"])
            function = name(resources[p["FunctionName"]["Ref"]]["Properties"]["FunctionName"])
            policy = json.loads(aws.lambda_.get_policy(FunctionName=function)["Policy"])
            return any(f":rule/{rule}" in json.dumps(st.get("Condition")) for st in policy["Statement"])
        if kind == "AWS::SNS::Topic":
            return bool(aws.get("sns").get_topic_attributes(TopicArn=topic_arn(p["TopicName"])))
        if kind == "AWS::SNS::Subscription":
            subs = aws.get("sns").list_subscriptions_by_topic(TopicArn=topic_arn(p["TopicArn"]))["Subscriptions"]
            return any(s["Endpoint"] == p["Endpoint"] and s["Protocol"] == p["Protocol"] for s in subs)
        if kind == "AWS::CloudWatch::Alarm":
            return bool(aws.get("cloudwatch").describe_alarms(AlarmNames=[name(p["AlarmName"])])["MetricAlarms"])
        if kind == "AWS::CloudWatch::Dashboard":
            boards = aws.get("cloudwatch").list_dashboards(DashboardNamePrefix=name(p["DashboardName"]))
            return name(p["DashboardName"]) in [b["DashboardName"] for b in boards["DashboardEntries"]]
        raise AssertionError(f"no lookup for {kind}: add one to stack_resources_present")

    def present(kind: str, p: dict[str, Any]) -> bool:
        try:
            return exists(kind, p)
        except AwsNotFoundError:  # the facade's translation of every "does not exist" error
            return False

    return {key: present(r["Type"], r["Properties"]) for key, r in resources.items()}
