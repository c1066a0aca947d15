"""deploy.py on the emulator: idempotence, dry-run, remove, IAM, the CloudFormation template."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from dynamo_continuous_backup.cli.main import UI, main
from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.config import Config
from dynamo_continuous_backup.install import iam
from dynamo_continuous_backup.local.emulator import EMULATOR_MARK

from .. import helpers
from ..fakes import Failing, client_error, clients_with
from ..helpers import BUCKET


def cli(*args: str) -> tuple[int, str]:
    """The CLI's exit code and everything it printed."""
    code, out, err = helpers.cli(*args)
    return code, out + err


@pytest.fixture
def cfg_path(aws: Clients, tmp_path: Path) -> str:
    path = tmp_path / "config.hjson"
    path.write_text(json.dumps({"firehoseDeliveryBucket": BUCKET, "firehoseDeliveryPrefix": "backups"}))
    return str(path)


def resources(aws: Clients) -> dict[str, list[str]]:
    return {
        "functions": sorted(f["FunctionName"] for f in aws.lambda_.list_functions()["Functions"]),
        "rules": sorted(r["Name"] for r in aws.events.list_rules()["Rules"]),
        "roles": sorted(r["RoleName"] for r in aws.iam.list_roles()["Roles"]),
        "buckets": sorted(b["Name"] for b in aws.s3.list_buckets()["Buckets"]),
    }


def test_dry_run_changes_nothing(aws: Clients, cfg_path: str) -> None:
    code, out = cli("deploy", "--config", cfg_path, "--dry-run")
    assert code == 0 and "would create bucket" in out and "would create function: dynamo-backup-forwarder" in out
    assert resources(aws) == {"functions": [], "rules": [], "roles": [], "buckets": []}


def test_deploy_creates_protected_bucket_and_twice_changes_nothing(aws: Clients, cfg_path: str) -> None:
    assert cli("deploy", "--config", cfg_path)[0] == 0
    assert resources(aws)["functions"] == ["dynamo-backup-ensure", "dynamo-backup-forwarder"]
    assert resources(aws)["rules"] == ["dynamo-backup-reconcile", "dynamo-backup-table-events"]
    assert aws.s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    assert all(aws.s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"].values())
    assert "aws:SecureTransport" in aws.s3.get_bucket_policy(Bucket=BUCKET)["Policy"]
    conf = aws.lambda_.get_function_configuration(FunctionName="dynamo-backup-forwarder")
    assert conf["Handler"] == "dynamo_continuous_backup.forwarder.handler"
    assert json.loads(conf["Environment"]["Variables"]["DCB_CONFIG"])["firehoseDeliveryBucket"] == BUCKET
    code, out = cli("deploy", "--config", cfg_path)
    assert code == 0 and "nothing to change" in out and "0 change(s)" in out


def test_changed_setting_updates_in_place(aws: Clients, cfg_path: str) -> None:
    cli("deploy", "--config", cfg_path)
    data = json.loads(Path(cfg_path).read_text())
    Path(cfg_path).write_text(json.dumps({**data, "streamsMaxRecordsBatch": 200}))
    code, out = cli("deploy", "--config", cfg_path)
    assert "update function configuration: dynamo-backup-ensure" in out and "create" not in out
    env = aws.lambda_.get_function_configuration(FunctionName="dynamo-backup-ensure")["Environment"]["Variables"]
    assert json.loads(env["DCB_CONFIG"])["streamsMaxRecordsBatch"] == 200


def test_no_trail_warning_on_the_embedded_aws_only(
    aws: Clients, cfg_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On the embedded AWS (`dynamo-backup local`) the local runtime delivers the table events itself
    code, out = cli("deploy", "--config", cfg_path, "--dry-run")
    assert code == 0 and "CloudTrail" not in out
    # The same account taken for a real one (no emulator mark): it has no trail, deploy warns
    monkeypatch.delenv(EMULATOR_MARK)
    code, out = cli("deploy", "--config", cfg_path, "--dry-run")
    assert code == 0 and "warning: no CloudTrail trail is logging management events" in out


def test_existing_bucket_missing_protections_are_reported(aws: Clients, cfg_path: str) -> None:
    aws.s3.create_bucket(Bucket=BUCKET)
    code, out = cli("deploy", "--config", cfg_path, "--dry-run")
    assert "versioning is off" in out and "public access is not blocked" in out and "requiring TLS" in out


def test_remove_keeps_the_bucket_and_refuses_while_tables_are_protected(aws: Clients, cfg_path: str) -> None:
    # GIVEN a deployed stack, backups in the bucket and a table our forwarder still reads
    cli("deploy", "--config", cfg_path)
    aws.s3.put_object(Bucket=BUCKET, Key="backups/t/2026/01/01/00/x", Body=b"{}")
    aws.dynamodb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    arn = aws.dynamodb.describe_table(TableName="t")["Table"]["LatestStreamArn"]
    aws.lambda_.create_event_source_mapping(
        EventSourceArn=arn, FunctionName="dynamo-backup-forwarder", StartingPosition="TRIM_HORIZON"
    )
    # WHEN it is removed, THEN it refuses while the table is protected
    out = io.StringIO()
    assert main(["deploy", "--config", cfg_path, "--remove"], UI(out, out)) == 2
    assert "still protected" in out.getvalue()
    # WHEN removed with --force, THEN all but the bucket and its data is gone, and a second removal has nothing to do
    assert cli("deploy", "--config", cfg_path, "--remove", "--force")[0] == 0
    assert resources(aws) == {"functions": [], "rules": [], "roles": [], "buckets": [BUCKET]}
    assert aws.s3.list_objects_v2(Bucket=BUCKET, Prefix="backups/")["KeyCount"] == 1
    assert cli("deploy", "--config", cfg_path, "--remove")[1].count("nothing to change") == 1


def test_bucket_of_another_account_is_refused(aws: Clients, cfg_path: str) -> None:
    from dynamo_continuous_backup.install.deployer import Deployer

    # what S3 answers HeadBucket when ExpectedBucketOwner differs
    s3 = Failing(aws.s3, "head_bucket", client_error("403", "HeadBucket", 403, "Forbidden"))
    deployer = Deployer(clients_with(aws, s3=s3), Config(firehose_delivery_bucket=BUCKET), code=b"zip")
    from dynamo_continuous_backup.core.errors import AwsError

    with pytest.raises(AwsError, match="belongs to another account"):
        deployer.plan()


def policies_of(aws: Clients) -> list[dict]:
    docs = []
    for role in aws.iam.list_roles()["Roles"]:
        for name in aws.iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"]:
            doc = aws.iam.get_role_policy(RoleName=role["RoleName"], PolicyName=name)["PolicyDocument"]
            docs.append(json.loads(doc) if isinstance(doc, str) else doc)
    return docs


def test_generated_iam_has_no_write_on_star_and_conditioned_passrole(aws: Clients, cfg_path: str) -> None:
    cli("deploy", "--config", cfg_path)
    docs = policies_of(aws)
    assert len(docs) == 3
    for doc in docs:
        assert iam.write_actions_on_star(doc) == []
        for st in doc["Statement"]:
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            if "iam:PassRole" in actions:
                assert st["Resource"].endswith(":role/dynamo-backup-firehose")
                assert st["Condition"] == {"StringEquals": {"iam:PassedToService": "firehose.amazonaws.com"}}
            if any(a.startswith("s3:") and a != "s3:ListBucket" and "Bucket" not in a for a in actions):
                resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
                assert all(r.startswith(f"arn:aws:s3:::{BUCKET}/backups/") for r in resources), st


def test_cloudformation_template_passes_cfn_lint(aws: Clients, cfg_path: str, tmp_path: Path) -> None:
    from cfnlint.api import lint_all

    # WHEN deploy also writes the CloudFormation template
    template = tmp_path / "template.json"
    code, out = cli("deploy", "--config", cfg_path, "--template-out", str(template))
    assert code == 0 and "CloudFormation template written" in out
    # THEN the code it names is uploaded, cfn-lint finds no error, and its IAM is as tight as deploy's
    doc = json.loads(template.read_text())
    key = doc["Parameters"]["CodeKey"]["Default"]
    assert aws.s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"] > 0  # the artifact it points at
    matches = lint_all(template.read_text())
    errors = [m for m in matches if str(m.rule.id).startswith("E")]
    assert errors == [], [str(m) for m in errors]
    for res in doc["Resources"].values():
        if res["Type"] == "AWS::IAM::Role":
            policy = res["Properties"]["Policies"][0]["PolicyDocument"]
            policy = json.loads(policy["Fn::Sub"]) if "Fn::Sub" in policy else policy
            assert iam.write_actions_on_star(policy) == []
            for st in policy["Statement"]:
                if st["Action"] == "iam:PassRole":
                    assert st["Resource"] == "${FirehoseRole.Arn}" and "PassedToService" in str(st["Condition"])


def test_the_template_uses_the_roles_the_config_names_and_creates_only_the_others(aws: Clients) -> None:
    from dynamo_continuous_backup.install.deployer import Deployer
    from dynamo_continuous_backup.install.template import build_template

    # GIVEN a config naming the team's own forwarder and Firehose roles
    forwarder, firehose = "arn:aws:iam::123456789012:role/team-forwarder", "arn:aws:iam::123456789012:role/team-fh"
    config = Config(BUCKET, lambda_exec_role_arn=forwarder, firehose_delivery_role_arn=firehose)
    # WHEN the template is built
    resources = build_template(Deployer(aws, config, code=b"zip"), "key")["Resources"]
    # THEN it creates only the provisioner's role, and the functions run as the named ones
    assert [r["Properties"]["RoleName"] for r in resources.values() if r["Type"] == "AWS::IAM::Role"] == [
        "dynamo-backup-provisioner"
    ]
    assert resources["ForwarderFunction"]["Properties"]["Role"] == forwarder
    assert resources["EnsureFunction"]["Properties"]["Role"] == {"Fn::GetAtt": ["ProvisionerRole", "Arn"]}
    env = resources["EnsureFunction"]["Properties"]["Environment"]["Variables"]["DCB_CONFIG"]["Fn::Sub"]
    passrole = json.dumps(resources["ProvisionerRole"]["Properties"]["Policies"][0]["PolicyDocument"])
    assert json.loads(env)["firehoseDeliveryRoleArn"] == firehose and ":role/team-fh" in passrole
