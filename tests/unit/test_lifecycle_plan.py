"""Deploy's lifecycle rule (frees what retention deletes in a versioned bucket): planned once,
merged by ID into a bucket's own rules, never replacing them."""

from __future__ import annotations

from dataclasses import replace

from dynamo_continuous_backup.core.naming import LIFECYCLE_RULE_ID
from dynamo_continuous_backup.install import spec
from dynamo_continuous_backup.install.planner import BucketState, DeployState, Desired, plan_deploy
from dynamo_continuous_backup.install.steps import CreateBucket, PutBucketLifecycle

from .test_deploy_planner import GOOD_BUCKET, deployed, desired

THEIRS = {"ID": "their-logs", "Filter": {"Prefix": "logs/"}, "Status": "Enabled", "Expiration": {"Days": 30}}


def want() -> Desired:
    return replace(desired(), lifecycle=spec.lifecycle_rule("backups"))


def lifecycle_steps(state: DeployState) -> list[PutBucketLifecycle]:
    return [s for s in plan_deploy(want(), state).steps if isinstance(s, PutBucketLifecycle)]


def test_a_new_bucket_gets_the_rule_on_the_backup_prefix_only() -> None:
    plan = plan_deploy(want(), replace(deployed(want()), bucket=BucketState()))
    assert isinstance(plan.steps[0], CreateBucket)
    (step,) = [s for s in plan.steps if isinstance(s, PutBucketLifecycle)]
    (rule,) = step.rules
    assert rule["ID"] == LIFECYCLE_RULE_ID and rule["Filter"] == {"Prefix": "backups/"}
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] >= 1
    assert rule["Expiration"] == {"ExpiredObjectDeleteMarker": True}


def test_a_bucket_with_the_rule_plans_nothing() -> None:
    bucket = replace(GOOD_BUCKET, lifecycle=(THEIRS, spec.lifecycle_rule("backups")))
    assert lifecycle_steps(replace(deployed(want()), bucket=bucket)) == []


def test_the_users_rules_are_kept_and_ours_merged_by_id() -> None:
    stale = {**spec.lifecycle_rule("backups"), "NoncurrentVersionExpiration": {"NoncurrentDays": 400}}
    bucket = replace(GOOD_BUCKET, lifecycle=(THEIRS, stale))
    plan = plan_deploy(want(), replace(deployed(want()), bucket=bucket))
    (step,) = [s for s in plan.steps if isinstance(s, PutBucketLifecycle)]
    assert step.rules == (THEIRS, spec.lifecycle_rule("backups"))
    assert any("1 other rule(s), which stay" in w for w in plan.warnings)
