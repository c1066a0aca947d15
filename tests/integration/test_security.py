"""Security properties: what the IAM allows, and what the logs may contain."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from dynamo_continuous_backup import forwarder
from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.config import Config
from dynamo_continuous_backup.core.errors import BackupError
from dynamo_continuous_backup.install.deployer import Deployer
from dynamo_continuous_backup.install.template import build_template
from dynamo_continuous_backup.local import LocalRuntime
from dynamo_continuous_backup.restore.backups import BackupStore
from dynamo_continuous_backup.restore.restore import RestoreOptions, Restorer
from dynamo_continuous_backup.restore.verify import Verifier

from ..fakes import stream_event
from ..helpers import BUCKET, delivery_stream, firehose_down, statements

SECRET = "s3cr3t-card-4111111111111111"


def test_every_role_trusts_exactly_its_aws_service(aws: Clients) -> None:
    config = Config(firehose_delivery_bucket=BUCKET, firehose_delivery_prefix="backups")
    template = build_template(Deployer(aws, config, code=b"zip"), "key")
    trusts = [
        res["Properties"]["AssumeRolePolicyDocument"]
        for res in template["Resources"].values()
        if res["Type"] == "AWS::IAM::Role"
    ]
    assert len(trusts) == 3  # provisioner, forwarder, firehose
    for doc in trusts:
        allows = [st for st in statements(doc) if st["Effect"] == "Allow"]
        assert allows, doc
        for st in allows:
            assert "Principal" in st, st  # a missing principal is not a service
            assert set(st["Principal"]) == {"Service"}, st
            assert st["Principal"]["Service"] in ("lambda.amazonaws.com", "firehose.amazonaws.com"), st


def test_item_values_never_reach_the_logs_by_default(
    deployed: tuple[Config, LocalRuntime],
    aws: Clients,
    make_table: Callable[..., str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # GIVEN every log record of the package, and an item whose key and value are a secret
    caplog.set_level(logging.DEBUG, logger="dynamo_continuous_backup")
    config, runtime = deployed
    make_table("cards")
    runtime.settle()
    aws.dynamodb.put_item(TableName="cards", Item={"pk": {"S": SECRET}, "number": {"S": SECRET}})
    runtime.settle()
    # WHEN it is captured, restored and verified, and a forwarder fails to deliver it
    Restorer(aws, BackupStore(aws, config, tmp_path)).restore("cards", "cards-r", RestoreOptions())
    Verifier(aws, BackupStore(aws, config, tmp_path)).verify("cards")
    # a forwarder that cannot deliver logs warnings about the batch, not its contents
    delivery_stream(aws, config, "cards2")
    event = stream_event("cards2", 5)
    event["Records"][0]["dynamodb"]["Keys"] = {"pk": {"S": SECRET}}
    forwarder.handler(event, None, firehose_down(aws, config))
    # THEN the logs speak of the failure but never hold the secret
    assert "undelivered" in caplog.text
    assert SECRET not in caplog.text


def test_log_item_data_allows_keys_in_failure_logs(
    aws: Clients, config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    delivery_stream(aws, config, "cards")
    event = stream_event("cards", 3)
    event["Records"][0]["dynamodb"]["Keys"] = {"pk": {"S": SECRET}}
    with caplog.at_level(logging.WARNING):
        forwarder.handler(event, None, firehose_down(aws, config, log_item_data=True))
    assert SECRET in caplog.text


def test_deployed_function_environment_carries_no_secret(aws: Clients, tmp_path: Path) -> None:
    from dynamo_continuous_backup.cli.main import main

    path = tmp_path / "c.json"
    path.write_text(json.dumps({"firehoseDeliveryBucket": BUCKET}))
    assert main(["deploy", "--config", str(path)]) == 0
    for fn in aws.lambda_.list_functions()["Functions"]:
        env = json.dumps(fn.get("Environment", {}))
        assert "SecretAccessKey" not in env and "testing" not in env


@pytest.mark.parametrize(
    "key",
    [
        "backups/evil/2026/01/01/00/../../../../../../../outside",
        "backups/evil/2026/01/01/00/./x",
        "backups/evil/2026/01/01/00//x",
    ],
)
def test_an_object_key_never_writes_outside_the_cache(aws: Clients, config: Config, tmp_path: Path, key: str) -> None:
    # GIVEN someone put an object whose key climbs out of (or aliases a file in) the cache
    aws.s3.put_object(Bucket=BUCKET, Key=key, Body=b'{"Keys": {"pk": {"S": "a"}}}\n')
    assert key in [o["Key"] for o in aws.s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    cache = tmp_path / "deep" / "er" / "cache"
    # WHEN restore's cache syncs the table
    refused = ""
    try:
        BackupStore(aws, config, cache).sync("evil")
    except BackupError as exc:
        refused = str(exc)
    # THEN no file was written anywhere but under the cache root, and the object is refused by name
    root = cache / BUCKET
    assert [p for p in tmp_path.rglob("*") if p.is_file() and root not in p.parents] == []
    assert re.match(f"backup object s3://{BUCKET}/{re.escape(key)} has an unsafe name", refused), refused
