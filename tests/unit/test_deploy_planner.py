"""The deploy planner's decisions from an observed state: pure, no AWS."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from dynamo_continuous_backup.core.alarms import AlarmSpec
from dynamo_continuous_backup.core.config import Config
from dynamo_continuous_backup.core.errors import AwsError, ConfigError, UserInputError
from dynamo_continuous_backup.install import spec
from dynamo_continuous_backup.install.planner import (
    BucketState,
    DeployState,
    Desired,
    InstalledState,
    RuleState,
    plan_deploy,
    plan_teardown,
)
from dynamo_continuous_backup.install.steps import (
    AddPermission,
    CreateBucket,
    PutAlarm,
    PutRule,
    PutTarget,
    UpdateFunctionCode,
    UpdateFunctionConfiguration,
    UpdateRolePolicy,
)

CONFIG = Config(firehose_delivery_bucket="bkt", firehose_delivery_prefix="backups")
TARGET_ARN = "arn:aws:lambda:us-east-1:123456789012:function:dynamo-backup-ensure"
ENV = {"Variables": {"DCB_CONFIG": "{}"}}
GOOD_BUCKET = BucketState(
    exists=True,
    region="us-east-1",
    versioning="Enabled",
    public_access_block=dict.fromkeys(spec.PUBLIC_ACCESS_BLOCK, True),
    policy=json.dumps(spec.tls_only_policy("bkt")),
)


def desired(config: Config = CONFIG) -> Desired:
    return Desired(
        bucket=config.firehose_delivery_bucket,
        region="us-east-1",
        kms_key_arn=None,
        roles=spec.roles(config, "123456789012", "us-east-1", "arn:aws:iam::123456789012:role/dynamo-backup-firehose"),
        functions=tuple(
            (f, f.settings(f"arn:aws:iam::123456789012:role/{f.role}", ENV)) for f in spec.functions(config)
        ),
        code_sha256="sha",
        rules=spec.rules(config),
        target=config.ensure_function_name,
        target_arn=TARGET_ARN,
        monitoring=spec.monitoring(config, "123456789012", "us-east-1"),
    )


def deployed(want: Desired) -> DeployState:
    """The state a completed deploy of `want` leaves."""
    return DeployState(
        bucket=GOOD_BUCKET,
        role_policies={r.name: r.policy for r in want.roles},
        functions={f.name: {**settings, "CodeSha256": want.code_sha256} for f, settings in want.functions},
        rules={r.name: RuleState({**r.settings(), "State": "ENABLED"}, (want.target_arn,)) for r in want.rules},
        permissions=frozenset(r.permission_id for r in want.rules),
        trail=True,
        topic="ours",
        alarms={a.name: described(a) for a in want.monitoring.alarms},
        dashboard=want.monitoring.dashboard_body,
    )


def described(alarm: AlarmSpec) -> dict[str, Any]:
    """DescribeAlarms' answer for an alarm put as specified: ints come back as floats, plus its state."""
    return {**alarm.put_args(), "Period": float(alarm.period), "StateValue": "OK", "AlarmArn": "arn:..."}


def lines(plan: Any) -> list[str]:
    return [str(step) for step in plan.steps]


def test_an_empty_account_gets_everything_in_order() -> None:
    plan = plan_deploy(desired(), DeployState())
    assert lines(plan) == [
        "create bucket: bkt",
        "create role: dynamo-backup-firehose",
        "create role: dynamo-backup-forwarder",
        "create role: dynamo-backup-provisioner",
        "create function: dynamo-backup-ensure",
        "create function: dynamo-backup-forwarder",
        "put rule: dynamo-backup-table-events",
        "put target: dynamo-backup-table-events",
        "add permission: dynamo-backup-table-events",
        "put rule: dynamo-backup-reconcile",
        "put target: dynamo-backup-reconcile",
        "add permission: dynamo-backup-reconcile",
        "create topic: dynamo-backup-alarms",
        "put alarm: dynamo-backup-forwarder-errors",
        "put alarm: dynamo-backup-forwarder-iterator-age",
        "put alarm: dynamo-backup-records-undelivered",
        "put alarm: dynamo-backup-ensure-errors",
        "put dashboard: dynamo-backup",
    ]
    assert plan.steps[0] == CreateBucket("bkt", "us-east-1", None)
    assert plan.warnings == ()


def test_a_deployed_account_needs_nothing() -> None:
    want = desired()
    plan = plan_deploy(want, deployed(want))
    assert plan.steps == () and plan.warnings == ()


def test_only_what_differs_is_changed() -> None:
    want = desired()
    seen = deployed(want)
    forwarder = CONFIG.forwarder_function_name
    changed = {**seen.functions[forwarder], "Timeout": 3, "CodeSha256": "old"}
    table_events, reconcile = (r.name for r in want.rules)
    seen = replace(
        seen,
        role_policies={**seen.role_policies, "dynamo-backup-forwarder": None},  # the role lost its policy
        functions={**seen.functions, forwarder: changed},
        rules={
            table_events: RuleState({**seen.rules[table_events].description, "State": "DISABLED"}, ()),
            reconcile: seen.rules[reconcile],
        },
        permissions=frozenset({f"{reconcile}-invoke"}),
    )
    plan = plan_deploy(want, seen)
    forwarder_settings = dict(want.functions)[spec.functions(CONFIG)[1]]
    assert plan.steps == (
        UpdateRolePolicy("dynamo-backup-forwarder", want.roles[1].policy),
        UpdateFunctionCode(forwarder, "sha"),
        UpdateFunctionConfiguration(forwarder, forwarder_settings),
        PutRule(table_events, want.rules[0].settings()),
        PutTarget(table_events, TARGET_ARN),
        AddPermission(table_events, CONFIG.ensure_function_name, f"{table_events}-invoke"),
    )


def test_an_event_pattern_is_compared_as_json_not_text() -> None:
    want = desired()
    seen = deployed(want)
    name = want.rules[0].name
    reordered = json.dumps(spec.event_pattern(), sort_keys=False, indent=1)
    seen = replace(
        seen, rules={**seen.rules, name: RuleState({"EventPattern": reordered, "State": "ENABLED"}, (TARGET_ARN,))}
    )
    assert plan_deploy(want, seen).steps == ()


def test_roles_the_user_brings_are_left_alone() -> None:
    want = replace(desired(), roles=())
    assert not [s for s in plan_deploy(want, DeployState()).steps if "role" in s.action]


def test_a_bucket_deploy_cannot_use_is_refused_and_gaps_are_reported() -> None:
    with pytest.raises(AwsError, match="belongs to another account"):
        plan_deploy(desired(), DeployState(bucket=BucketState(exists=True, foreign=True)))
    with pytest.raises(ConfigError, match="is in eu-west-1 but the config's region is us-east-1"):
        plan_deploy(desired(), DeployState(bucket=BucketState(exists=True, region="eu-west-1")))
    bare = BucketState(exists=True, region="us-east-1")
    plan = plan_deploy(desired(), replace(DeployState(bucket=bare), trail=False))
    assert [s for s in plan.steps if isinstance(s, CreateBucket)] == []  # the user's bucket is never changed
    assert plan.warnings == (
        "bucket bkt: versioning is off (a deleted or overwritten backup cannot be recovered)",
        "bucket bkt: public access is not blocked",
        "bucket bkt: no bucket policy requiring TLS",
        "no CloudTrail trail is logging management events: CreateTable events will not reach EventBridge; "
        "only the hourly reconcile will cover new tables",
    )
    partly = replace(GOOD_BUCKET, public_access_block={"BlockPublicAcls": False}, policy="{}")
    assert plan_deploy(desired(), DeployState(bucket=partly, trail="AccessDenied")).warnings == (
        "bucket bkt: public access is not fully blocked",
        "bucket bkt: the bucket policy does not require TLS",
        "could not check CloudTrail (AccessDenied); table events need a trail",
    )


def test_teardown_refuses_while_tables_are_protected_and_deletes_only_what_exists() -> None:
    want = desired()
    everything = InstalledState(
        rules=frozenset(r.name for r in want.rules),
        functions=frozenset(f.name for f, _ in want.functions),
        roles=frozenset(r.name for r in want.roles),
        mappings=2,
        alarms=frozenset(a.name for a in want.monitoring.alarms),
        dashboard=True,
        topic=True,
    )
    with pytest.raises(UserInputError, match="2 table"):
        plan_teardown(want, everything)
    assert lines(plan_teardown(want, everything, force=True)) == [
        "delete rule: dynamo-backup-table-events",
        "delete rule: dynamo-backup-reconcile",
        "delete function: dynamo-backup-ensure",
        "delete function: dynamo-backup-forwarder",
        "delete role: dynamo-backup-provisioner",
        "delete role: dynamo-backup-forwarder",
        "delete role: dynamo-backup-firehose",
        "delete alarms: dynamo-backup-forwarder-errors, dynamo-backup-forwarder-iterator-age, "
        "dynamo-backup-records-undelivered, dynamo-backup-ensure-errors",
        "delete dashboard: dynamo-backup",
        f"delete topic: {want.monitoring.topic_arn}",
    ]
    partly = InstalledState(functions=frozenset({CONFIG.forwarder_function_name}))
    assert lines(plan_teardown(want, partly)) == ["delete function: dynamo-backup-forwarder"]
    assert plan_teardown(want, InstalledState()).steps == ()


def test_alarms_follow_the_config_and_a_topic_not_ours_is_never_taken() -> None:
    # GIVEN a deployed account, then a config with a longer lag allowed and an email to notify
    want = desired()
    seen = deployed(want)
    changed = desired(replace(CONFIG, max_lag_seconds=900, alarm_email="ops@example.com"))
    # WHEN deploy plans again
    plan = plan_deploy(changed, seen)
    # THEN the iterator-age alarm alone is updated, and the address subscribed once
    assert lines(plan) == [
        f"subscribe: ops@example.com to {want.monitoring.topic_arn}",
        "put alarm: dynamo-backup-forwarder-iterator-age",
    ]
    age = next(s for s in plan.steps if isinstance(s, PutAlarm))
    assert age.settings["Threshold"] == 930_000.0  # IteratorAge is in milliseconds; maxLag + the 30 s window
    assert (
        plan_deploy(
            changed,
            replace(
                seen,
                subscriptions=frozenset({"ops@example.com"}),
                alarms={a.name: described(a) for a in changed.monitoring.alarms},
            ),
        ).steps
        == ()
    )
    # AND a topic of deploy's name that deploy did not create is refused, not adopted
    with pytest.raises(ConfigError, match="not created by deploy; set alarmTopicArn"):
        plan_deploy(want, replace(seen, topic="foreign"))
    # AND a topic the config names is used as it is: not created, not deleted
    theirs = desired(replace(CONFIG, alarm_topic_arn="arn:aws:sns:us-east-1:123456789012:ops"))
    assert not [s for s in plan_deploy(theirs, DeployState()).steps if "topic" in s.action]
    assert {
        a
        for s in plan_deploy(theirs, DeployState()).steps
        if isinstance(s, PutAlarm)
        for a in s.settings["AlarmActions"]
    } == {"arn:aws:sns:us-east-1:123456789012:ops"}
    assert not [s for s in plan_teardown(theirs, InstalledState(topic=True)).steps if "topic" in s.action]


def test_a_topic_the_config_names_must_be_in_the_region_and_exist() -> None:
    west = desired(replace(CONFIG, alarm_topic_arn="arn:aws:sns:eu-west-1:123456789012:ops"))
    with pytest.raises(ConfigError, match="is in eu-west-1: CloudWatch alarms notify only topics of their own region"):
        plan_deploy(west, DeployState())
    theirs = desired(replace(CONFIG, alarm_topic_arn="arn:aws:sns:us-east-1:123456789012:ops"))
    assert "the alarms would notify nobody" in " ".join(plan_deploy(theirs, DeployState()).warnings)
    assert plan_deploy(theirs, replace(DeployState(), topic="foreign")).warnings == ()
