"""Security properties of the pure policy documents."""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from typing import Any

from dynamo_continuous_backup.install.deployer import tls_only_policy

from ..helpers import BUCKET, ROOT, statements


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
    # where the engine writes: its imports, its bases and their index names, its results
    places = ("@imports/", "@snapshots/", "@athena-results/", "@timelines/*/bases/")
    assert writes == {f"arn:aws:s3:::{BUCKET}/p/{w}*" for w in places}
    athena = next(st for st in policy["Statement"] if "athena:StartQueryExecution" in st["Action"])
    assert athena["Resource"] == "arn:aws:athena:us-east-1:123456789012:workgroup/primary"


def _may_delete(policy: dict[str, Any], arn: str) -> bool:
    """IAM's answer for s3:DeleteObject on `arn`: some Allow matches and no Deny does."""
    effects = set()
    for st in policy["Statement"]:
        actions = [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
        resources = [st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"]
        if "s3:DeleteObject" in actions and any(fnmatchcase(arn, r) for r in resources):
            effects.add(st["Effect"])
    return effects == {"Allow"}


def _folders() -> set[str]:
    """Every `@` folder the package names (a new one must be kept from retention's deletes)."""
    src = ROOT / "src" / "dynamo_continuous_backup"
    return {m for path in src.rglob("*.py") for m in re.findall(r"@[a-z][a-z-]+(?=[/\"])", path.read_text())}


def test_retention_lets_the_ensure_role_delete_changes_and_bases_and_nothing_else() -> None:
    from dynamo_continuous_backup.core.config import Config
    from dynamo_continuous_backup.install import iam

    config = Config(BUCKET, firehose_delivery_prefix="p", change_retention_days=3)
    policy = iam.provisioner_policy(config, "123456789012", "us-east-1", "arn:aws:iam::123456789012:role/f")
    at = f"arn:aws:s3:::{BUCKET}/p/"
    assert _may_delete(policy, at + "orders/2024/01/02/03/orders-1-2024-01-02-03-00-00-x.gz")
    assert _may_delete(policy, at + "orders/tenant=a/2024/01/02/03/x.gz")
    assert _may_delete(policy, at + "@snapshots/orders/20240102T030000Z-checkpoint-1/part-00000.ndjson.gz")
    assert _may_delete(policy, at + "@snapshots/orders/20240102T030000Z-checkpoint-1/manifest.json")
    folders = _folders() - {"@snapshots"}
    assert {"@timelines", "@schemas", "@oversize", "@artifacts", "@imports"} <= folders
    for folder in folders:
        assert not _may_delete(policy, f"{at}{folder}/orders/x.json"), folder
    assert not _may_delete(policy, f"arn:aws:s3:::{BUCKET}/other/orders/x.gz")
    # without retention, the role deletes nothing
    off = iam.provisioner_policy(config.replace(change_retention_days=0), "1", "us-east-1", "arn:aws:iam::1:role/f")
    assert not _may_delete(off, at + "orders/2024/01/02/03/x.gz")
    assert not _may_delete(off, at + "@snapshots/orders/r/manifest.json")


def _may_put(policy: dict, key: str, if_none_match: bool = False) -> bool:
    """IAM's verdict on s3:PutObject of `key` in the bucket, for the parts of IAM these
    policies use: wildcard resources, an explicit Deny winning, and the Null condition on
    s3:if-none-match (present only when the request carries If-None-Match)."""
    from fnmatch import fnmatchcase

    resource = f"arn:aws:s3:::{BUCKET}/{key}"
    allowed = False
    for st in policy["Statement"]:
        actions = [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
        resources = [st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"]
        if "s3:PutObject" not in actions or not any(fnmatchcase(resource, r) for r in resources):
            continue
        for test, values in st.get("Condition", {}).items():
            assert test == "Null" and values == {"s3:if-none-match": "false"}, "condition not evaluated here"
            if not if_none_match:
                break
        else:
            if st["Effect"] == "Deny":
                return False
            allowed = True
    return allowed


def test_each_role_writes_only_its_own_folders() -> None:
    from dynamo_continuous_backup.core.config import Config
    from dynamo_continuous_backup.install import iam

    config = Config(BUCKET, firehose_delivery_prefix="p")
    forwarder = iam.forwarder_policy(config, "123456789012", "us-east-1")
    firehose = iam.firehose_policy(config)
    provisioner = iam.provisioner_policy(config, "123456789012", "us-east-1", "arn:aws:iam::123456789012:role/fh")
    trusted = ["p/@timelines/orders/f.json", "p/@snapshots/orders/b.json", "p/@schemas/orders/schema.json"]
    # the forwarder: new oversize records only, and never one that would replace a stored object
    assert _may_put(forwarder, "p/@oversize/orders/1-e.json", if_none_match=True)
    assert not _may_put(forwarder, "p/@oversize/orders/1-e.json")
    assert not any(_may_put(forwarder, k, True) for k in [*trusted, "p/orders/2026/01/01/00/x"])
    # Firehose: change objects and its error folder, nothing restore trusts, no oversize record
    assert _may_put(firehose, "p/orders/2026/01/01/00/x") and _may_put(firehose, "p/@errors/orders/x")
    assert not any(_may_put(firehose, k, True) for k in [*trusted, "p/@oversize/orders/1-e.json"])
    # the provisioner (ensure, checkpoints, backfill): timelines, bases and schemas, but no oversize record
    assert all(_may_put(provisioner, k) for k in trusted)
    assert not _may_put(provisioner, "p/@oversize/orders/1-e.json", if_none_match=True)
    assert not any(_may_put(p, "elsewhere/x", True) for p in (forwarder, firehose, provisioner))
