"""Security properties of the pure policy documents."""

from __future__ import annotations

from dynamo_continuous_backup.install.deployer import tls_only_policy

from ..helpers import BUCKET, statements


def test_the_bucket_policy_only_denies_plain_http() -> None:
    # The wildcard principal is only acceptable in a Deny conditioned on insecure transport;
    # and the policy must hold one, or plain HTTP is not denied at all.
    policy = statements(tls_only_policy(BUCKET))
    assert policy, "the bucket policy denies nothing"
    for st in policy:
        assert st["Effect"] == "Deny", st
        assert st["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}, st


def test_the_athena_users_policy_writes_only_where_the_engine_writes() -> None:
    from dynamo_continuous_backup.core.config import Config
    from dynamo_continuous_backup.install import iam

    policy = iam.athena_user_policy(Config(BUCKET, firehose_delivery_prefix="p"), "123456789012", "us-east-1")
    assert iam.write_actions_on_star(policy) == []
    writes = {
        r
        for st in policy["Statement"]
        for r in ([st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"])
        if "s3:PutObject" in st["Action"]
    }
    assert writes == {f"arn:aws:s3:::{BUCKET}/p/{w}*" for w in ("@imports/", "@snapshots/", "@athena-results/")}
    athena = next(st for st in policy["Statement"] if "athena:StartQueryExecution" in st["Action"])
    assert athena["Resource"] == "arn:aws:athena:us-east-1:123456789012:workgroup/primary"
