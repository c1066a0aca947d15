"""The pure planner: every stream / delivery / mapping situation, no AWS."""

from dataclasses import replace

from dynamo_continuous_backup.core.alarms import delivery_alarms
from dynamo_continuous_backup.core.config import Config
from dynamo_continuous_backup.provisioning.destination import tenant_processing
from dynamo_continuous_backup.provisioning.plan import Batching, MappingState, Observed, plan_ensure, plan_remove
from dynamo_continuous_backup.provisioning.steps import (
    CreateDeliveryStream,
    CreateMapping,
    DeleteDeliveryAlarms,
    DeleteDeliveryStream,
    DeleteDuplicateMappings,
    DeleteMappings,
    EnableMapping,
    EnableStream,
    MarkDraining,
    PutDeliveryAlarms,
    SaveSchema,
    TakeSnapshot,
    UpdateDeliveryProcessing,
    UpdateMapping,
)

ARN = "arn:aws:dynamodb:r:1:table/t/stream/L1"


def obs(**kw: object) -> Observed:
    base: dict[str, object] = {"table": "t", "table_status": "ACTIVE", "delivery_stream": "t"}
    return Observed(**{**base, **kw})  # type: ignore[arg-type]


def protected(**kw: object) -> Observed:
    """A table with its stream, our delivery stream and our mapping on that stream."""
    done = {"stream_view_type": "NEW_AND_OLD_IMAGES", "stream_arn": ARN, "delivery_status": "ACTIVE"}
    return obs(**{**done, "delivery_owner": "t", "mappings": (MappingState("u1", "Enabled", ARN),), **kw})


def test_fresh_table_needs_everything() -> None:
    assert plan_ensure(obs()).steps == (
        EnableStream("t", "NEW_AND_OLD_IMAGES"),
        CreateDeliveryStream("t", "t"),
        CreateMapping("t", None),  # on the stream the plan enables
        SaveSchema("t"),
    )
    assert plan_ensure(obs(has_base=False)).actions == (
        "enable_stream",
        "create_delivery_stream",
        "create_mapping",
        "save_schema",
        "snapshot",
    )


def test_protected_table_needs_nothing_but_a_schema_check() -> None:
    o = protected()
    assert plan_ensure(o).steps == (SaveSchema("t"),)
    assert plan_ensure(replace(o, has_base=True)).changes == ()
    assert plan_ensure(replace(o, has_base=False)).changes == (TakeSnapshot("t"),)  # capture alone is not a backup


def test_other_view_types_are_not_protectable_and_untouched() -> None:
    for view in ("KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE"):
        plan = plan_ensure(obs(stream_view_type=view, stream_arn=ARN))
        assert plan.status == "not_protectable" and plan.steps == () and view in plan.reason


def test_foreign_delivery_stream_is_not_touched() -> None:
    plan = plan_ensure(obs(delivery_status="ACTIVE", delivery_owner=None))
    assert plan.status == "not_protectable" and "not ours" in plan.reason


def test_duplicate_mappings_converge_on_the_oldest() -> None:
    maps = (MappingState("b", "Enabled", ARN, 2.0), MappingState("a", "Enabled", ARN, 1.0))
    plan = plan_ensure(
        obs(
            stream_view_type="NEW_AND_OLD_IMAGES",
            stream_arn=ARN,
            delivery_status="ACTIVE",
            delivery_owner="t",
            mappings=maps,
        )
    )
    assert DeleteDuplicateMappings("t", ("b",)) in plan.steps and "create_mapping" not in plan.actions


def test_disabled_mapping_is_enabled_and_stale_stream_mapping_replaced() -> None:
    o = obs(stream_view_type="NEW_AND_OLD_IMAGES", stream_arn=ARN, delivery_status="ACTIVE", delivery_owner="t")
    assert EnableMapping("t", "u") in plan_ensure(replace(o, mappings=(MappingState("u", "Disabled", ARN),))).steps
    stale = (MappingState("u", "Enabled", ARN.replace("L1", "L0")),)
    assert CreateMapping("t", ARN) in plan_ensure(replace(o, mappings=stale)).steps


def test_a_changed_batching_window_or_batch_size_updates_the_mapping_once() -> None:
    want = Batching(1000, 30)
    now = MappingState("u1", "Enabled", ARN, batching=Batching(1000, 0))  # created before the window existed
    assert UpdateMapping("t", "u1", 1000, 30) in plan_ensure(protected(mappings=(now,), wanted_batching=want)).steps
    bigger = Batching(500, 30)
    assert UpdateMapping("t", "u1", 500, 30) in plan_ensure(protected(mappings=(now,), wanted_batching=bigger)).steps
    # as wanted: nothing to do (the second ensure after an update)
    done = replace(now, batching=want)
    assert plan_ensure(protected(mappings=(done,), wanted_batching=want)).changes == ()
    # not looked, or nothing wanted: left as it is
    assert plan_ensure(protected(wanted_batching=want)).changes == ()
    assert plan_ensure(protected(mappings=(now,))).changes == ()
    # a disabled mapping is enabled and updated
    off = replace(now, state="Disabled")
    assert plan_ensure(protected(mappings=(off,), wanted_batching=want)).actions[:2] == (
        "enable_mapping",
        "update_mapping",
    )


def test_missing_table() -> None:
    assert plan_ensure(obs(table_status=None)).status == "missing"


DAY = 24 * 3600


def test_remove_drains_by_consumption_never_by_time_alone() -> None:
    maps = (MappingState("u", "Enabled", ARN),)
    live = obs(delivery_status="ACTIVE", delivery_owner="t", mappings=maps)
    assert plan_remove(live, now=100, drain_seconds=60, buffer_seconds=120, retention_seconds=DAY).steps == (
        MarkDraining("t", "t", 100),
    )
    draining = obs(delivery_status="ACTIVE", delivery_owner="t", mappings=maps, draining_since=100.0)
    early = plan_remove(replace(draining, undelivered=0), 130, 60, 120, DAY)
    assert early.status == "draining" and early.steps == ()  # before drainSeconds nothing is checked
    # records not yet in S3 (or not counted) keep the mapping however long it has been...
    for pending in (5, None):
        late = plan_remove(replace(draining, undelivered=pending), 100 + DAY - 1, 60, 120, DAY)
        assert late.status == "draining" and late.steps == (), pending
    assert "5 stream records not in S3" in plan_remove(replace(draining, undelivered=5), 170, 60, 120, DAY).reason
    # ...until every record is in S3, or the stream's retention has expired them
    for done in (
        plan_remove(replace(draining, undelivered=0), 170, 60, 120, DAY),
        plan_remove(replace(draining, undelivered=3), 100 + DAY, 60, 120, DAY),
    ):
        assert done.steps == (DeleteMappings("t", ("u",)), DeleteDeliveryStream("t", "t")) and done.status == "removed"
    gone = obs(delivery_status="ACTIVE", delivery_owner="t", draining_since=100.0)
    assert plan_remove(gone, 200, 60, 120, DAY).steps == ()  # mapping removed elsewhere: let the buffer flush
    assert plan_remove(gone, 290, 60, 120, DAY).actions == ("delete_delivery_stream",)
    assert plan_remove(obs(), 0, 60, 120, DAY).status == "removed"


def test_remove_never_touches_a_foreign_delivery_stream() -> None:
    plan = plan_remove(obs(delivery_status="ACTIVE", delivery_owner=None), 0, 0, 0, DAY)
    assert plan.status == "removed" and plan.steps == ()


def test_a_delivery_streams_alarms_are_put_with_it_kept_current_and_removed_with_it() -> None:
    config = Config("bucket")
    wanted = delivery_alarms(config, "t", "arn:aws:sns:us-east-1:123456789012:alarms")
    current = protected(wanted_alarms=wanted)
    # a new table gets its alarms with its delivery stream; they are not a change to its capture
    fresh = plan_ensure(obs(wanted_alarms=wanted, alarms={}))
    put = [s for s in fresh.steps if isinstance(s, PutDeliveryAlarms)]
    assert put == [PutDeliveryAlarms("t", tuple(a.name for a in wanted), tuple(a.put_args() for a in wanted))]
    assert plan_ensure(replace(current, alarms={})).changes == ()
    # current alarms need nothing; one with an old threshold is put again, alone
    there = {a.name: a.put_args() for a in wanted}
    assert plan_ensure(replace(current, alarms=there)).steps == (SaveSchema("t"),)
    stale = {**there, wanted[1].name: {**there[wanted[1].name], "Threshold": 1.0}}
    assert plan_ensure(replace(current, alarms=stale)).actions == ("put_delivery_alarms", "save_schema")
    # alarms that could not be read are left alone
    assert plan_ensure(replace(current, alarms=None)).steps == (SaveSchema("t"),)
    # removal deletes them with the delivery stream, and alone once everything else is gone
    drained = replace(current, draining_since=0.0, undelivered=0, alarms=there)
    assert plan_remove(drained, 1000.0, 60, 90, DAY).steps[-1] == DeleteDeliveryAlarms("t", tuple(sorted(there)))
    assert plan_remove(obs(alarms=there), 0.0, 60, 90, DAY).steps == (DeleteDeliveryAlarms("t", tuple(sorted(there))),)


def test_our_delivery_streams_processors_are_updated_when_they_differ_and_only_then() -> None:
    wanted = tenant_processing("tenant")
    old = {"Enabled": True, "Processors": wanted["Processors"][1:2]}  # made before aggregation: no de-aggregation
    steps = plan_ensure(protected(delivery_processing=old, wanted_processing=wanted)).steps
    assert UpdateDeliveryProcessing("t", "t", wanted) in steps
    for same in (
        protected(delivery_processing=wanted, wanted_processing=wanted),  # already right: idempotent
        protected(delivery_processing={}, wanted_processing=None),  # the flat layout: processors left alone
        protected(delivery_processing=old, wanted_processing=wanted, delivery_status="CREATING"),
        protected(delivery_processing=None, wanted_processing=wanted),  # not looked
    ):
        assert not [s for s in plan_ensure(same).steps if isinstance(s, UpdateDeliveryProcessing)]
