"""Shared fixtures: one embedded moto server per session, reset before each test that uses it."""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.config import Config
from dynamo_continuous_backup.local.emulator import FAKE_ENV, EmbeddedMoto

# Never let a test reach a real account, whatever the developer's shell exports.
os.environ.update(FAKE_ENV)
os.environ.pop("AWS_PROFILE", None)

EVENTS = Path(__file__).parent / "events"
BUCKET = "backup-bucket"
REGION = "us-east-1"


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


@pytest.fixture(scope="session")
def moto_server() -> Iterator[EmbeddedMoto]:
    server = EmbeddedMoto().start()
    os.environ.update(server.environment(REGION))
    yield server
    server.stop()


@pytest.fixture
def aws(moto_server: EmbeddedMoto) -> Clients:
    moto_server.reset()
    return Clients(REGION)


def dummy_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("noop.py", "def handler(event, context):\n    return {}\n")
    return buf.getvalue()


@pytest.fixture
def config(aws: Clients) -> Config:
    """A bucket, a Firehose role and a forwarder function, as deploy.py would leave them."""
    aws.s3.create_bucket(Bucket=BUCKET)
    role = aws.iam.create_role(RoleName="dynamo-backup-firehose", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    fn_role = aws.iam.create_role(RoleName="dynamo-backup-forwarder", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    cfg = Config(
        firehose_delivery_bucket=BUCKET,
        region=REGION,
        firehose_delivery_prefix="backups",
        firehose_delivery_interval_seconds=0,
        drain_seconds=0,
        wait_timeout_seconds=10,
    )
    aws.lambda_.create_function(
        FunctionName=cfg.forwarder_function_name,
        Runtime="python3.12",
        Role=fn_role,
        Handler="noop.handler",
        Code={"ZipFile": dummy_zip()},
    )
    assert role
    return cfg


@pytest.fixture
def make_table(aws: Clients) -> Callable[..., str]:
    def make(
        name: str, stream: str | None = None, range_key: bool = False, key: str = "pk", key_type: str = "S"
    ) -> str:
        keys = [{"AttributeName": key, "KeyType": "HASH"}]
        attrs = [{"AttributeName": key, "AttributeType": key_type}]
        if range_key:
            keys.append({"AttributeName": "sk", "KeyType": "RANGE"})
            attrs.append({"AttributeName": "sk", "AttributeType": "N"})
        extra: dict[str, Any] = {}
        if stream:
            extra["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream}
        aws.dynamodb.create_table(
            TableName=name, KeySchema=keys, AttributeDefinitions=attrs, BillingMode="PAY_PER_REQUEST", **extra
        )
        return name

    return make


def s3_records(aws: Clients, prefix: str) -> list[dict[str, Any]]:
    """Every backup line under `prefix`, in object-key then line order."""
    from dynamo_continuous_backup.core.records import iter_lines

    out: list[dict[str, Any]] = []
    for page in aws.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for obj in sorted(page.get("Contents", []), key=lambda o: o["Key"]):
            out += iter_lines(aws.s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read())
    return out


@pytest.fixture
def deployed(aws: Clients, tmp_path: Path) -> Iterator[tuple[Config, Any]]:
    """deploy.py run against the emulator, and a local runtime driving it (synchronously)."""
    from dynamo_continuous_backup.cli.main import UI, main
    from dynamo_continuous_backup.core.config import load_config
    from dynamo_continuous_backup.local import LocalRuntime

    path = tmp_path / "config.hjson"
    path.write_text(
        json.dumps(
            {
                "firehoseDeliveryBucket": BUCKET,
                "firehoseDeliveryPrefix": "backups",
                "firehoseDeliveryIntervalSeconds": 0,
                "drainSeconds": 1,
                "region": REGION,
                "tableNameExcludeRegex": "scratch-.*",
            }
        )
    )
    out = io.StringIO()
    assert main(["deploy", "--config", str(path)], UI(out, out)) == 0, out.getvalue()
    runtime = LocalRuntime(aws)
    yield load_config(path), runtime


def cli(*args: str) -> tuple[int, str, str]:
    """Run the dynamo-backup CLI in-process: (exit code, stdout, stderr)."""
    from dynamo_continuous_backup.cli.main import UI, main

    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), UI(out, err))
    return code, out.getvalue(), err.getvalue()


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
