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
