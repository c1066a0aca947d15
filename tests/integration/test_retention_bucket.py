"""Deploy makes retention free the bytes in its versioned bucket (a lifecycle rule on the
backup prefix's deleted objects), keeps a user's own rules, and status says whether it is set."""

from __future__ import annotations

import json
from pathlib import Path

from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.config import Config
from dynamo_continuous_backup.core.naming import LIFECYCLE_RULE_ID
from dynamo_continuous_backup.provisioning.status import frees_pruned

from .. import helpers
from ..helpers import BUCKET

THEIRS = {"ID": "their-logs", "Filter": {"Prefix": "logs/"}, "Status": "Enabled", "Expiration": {"Days": 30}}


def config_file(tmp_path: Path) -> str:
    path = tmp_path / "config.json"
    path.write_text(
        json.dumps({"firehoseDeliveryBucket": BUCKET, "firehoseDeliveryPrefix": "backups", "changeRetentionDays": 3})
    )
    return str(path)


def rules(aws: Clients) -> dict[str, dict[str, object]]:
    return {r["ID"]: r for r in aws.s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]}


def test_deploy_sets_the_rule_once_and_status_sees_it(aws: Clients, tmp_path: Path) -> None:
    path = config_file(tmp_path)
    code, out, err = helpers.cli("deploy", "--config", path)
    assert code == 0, out + err
    rule = rules(aws)[LIFECYCLE_RULE_ID]
    assert rule["Status"] == "Enabled" and rule["Filter"] == {"Prefix": "backups/"}
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 7}
    code, out, err = helpers.cli("deploy", "--config", path)
    assert code == 0 and "nothing to change" in out, out + err
    assert frees_pruned(aws, Config(firehose_delivery_bucket=BUCKET, change_retention_days=3)) is True


def test_a_users_bucket_keeps_its_rules_and_gains_ours(aws: Clients, tmp_path: Path) -> None:
    aws.s3.create_bucket(Bucket=BUCKET)
    aws.s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    aws.s3.put_bucket_lifecycle_configuration(Bucket=BUCKET, LifecycleConfiguration={"Rules": [THEIRS]})
    cfg = Config(firehose_delivery_bucket=BUCKET, change_retention_days=3)
    assert frees_pruned(aws, cfg) is False  # status: retention deletes, but the bytes stay billed
    code, out, err = helpers.cli("deploy", "--config", config_file(tmp_path))
    assert code == 0, out + err
    assert "their-logs" in rules(aws) and rules(aws)["their-logs"]["Expiration"] == {"Days": 30}
    assert LIFECYCLE_RULE_ID in rules(aws) and "1 other rule(s), which stay" in out + err
    assert frees_pruned(aws, cfg) is True
