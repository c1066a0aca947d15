"""Lifecycle events that arrive late, twice or out of order, and capture stopped by another
consumer: each ends only the generation it is about, at the one end rule (core/timeline.py)."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dynamo_continuous_backup.core.aws import Clients
from dynamo_continuous_backup.core.config import Config
from dynamo_continuous_backup.core.naming import stream_label
from dynamo_continuous_backup.core.timeline import iso, label_time
from dynamo_continuous_backup.core.timeline_store import open_labels, read_timeline, record_end
from dynamo_continuous_backup.local import LocalRuntime
from dynamo_continuous_backup.local.eventbridge import cloudtrail
from dynamo_continuous_backup.provisioning.events import handle
from dynamo_continuous_backup.provisioning.optin import OptIn
from dynamo_continuous_backup.provisioning.provisioner import Provisioner
from dynamo_continuous_backup.provisioning.status import table_status
from dynamo_continuous_backup.restore.backups import BackupStore
from dynamo_continuous_backup.restore.restore import RestoreOptions, Restorer

from ..fakes import load_event
from ..helpers import REGION, cli
from .test_generations import gap_config, names, next_second, put

ACCOUNT = "123456789012"


def event_at(call: str, params: dict, at: float) -> dict:
    """A CloudTrail event of `call` at `at`, its eventTime truncated to the second as CloudTrail's."""
    event = cloudtrail(call, params, ACCOUNT, REGION)
    event["detail"]["eventTime"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
    return event


def stream_off(table: str, at: float) -> dict:
    return event_at("UpdateTable", {"tableName": table, "streamSpecification": {"streamEnabled": False}}, at)


def run(event: dict, aws: Clients, config: Config) -> dict:
    return handle(event, Provisioner(aws, config), OptIn.from_config(config, strict=False), aws)


def test_a_delete_event_delivered_after_the_table_was_recreated_leaves_the_new_generation_restorable(
    deployed: tuple[Config, LocalRuntime], aws: Clients, make_table: Callable[..., str], config_path: str
) -> None:
    config, runtime = deployed
    # GIVEN a protected table, deleted (its DeleteTable event handled), then recreated, protected
    # again and written to
    make_table("late")
    runtime.settle()
    put(aws, "late", "a1")
    runtime.settle()
    next_second()
    aws.dynamodb.delete_table(TableName="late")
    deleted = event_at("DeleteTable", {"tableName": "late"}, time.time())
    runtime.settle()
    next_second()
    make_table("late")
    runtime.settle()
    put(aws, "late", "b1")
    runtime.settle()
    # WHEN EventBridge delivers the DeleteTable event again (retried), to the deployed function
    assert runtime.dispatch(deleted) == 1
    runtime.settle()
    # THEN the latest state restores the new incarnation's items, verified
    code, out, err = cli("restore", "late", "--to", "late-now", "--config", config_path)
    assert code == 0 and "verified" in out, err
    assert names(aws, "late-now") == {"b1"}
    # AND status says protected, restorable since the new base, up to now
    code, out, _ = cli("status", "--config", config_path, "--json")
    [row] = [r for r in json.loads(out) if r["table"] == "late"]
    assert row["protected"] and row["restorable_since"] is not None, row
    assert row["restorable"][-1] == [row["restorable_since"], None]
    # AND the new stream is still captured: a later write is in the next restore
    put(aws, "late", "b2")
    runtime.settle()
    assert cli("restore", "late", "--to", "late-later", "--config", config_path)[0] == 0
    assert names(aws, "late-later") == {"b1", "b2"}


def test_a_late_stream_off_event_does_not_end_the_generation_begun_after_it(
    aws: Clients, config: Config, make_table: Callable[..., str], tmp_path: Path
) -> None:
    # GIVEN a protected table whose stream was turned off (the call's event is held back by
    # EventBridge), found off by the reconcile, which turned it on again: a second generation
    # with its own base ...
    make_table("upd")
    put(aws, "upd", "a1")
    provisioner = Provisioner(aws, config)
    assert provisioner.ensure("upd").status == "protected"
    next_second()
    aws.dynamodb.update_table(TableName="upd", StreamSpecification={"StreamEnabled": False})
    held = stream_off("upd", time.time())
    next_second()
    assert run(load_event("scheduled.json"), aws, config)["results"][0]["status"] == "protected"
    second = read_timeline(aws, config, "upd").generations[-1]
    assert second.end is None and second.bases
    next_second()
    inside = time.time()
    next_second()
    # ... and turned off again by someone
    aws.dynamodb.update_table(TableName="upd", StreamSpecification={"StreamEnabled": False})
    # WHEN the first call's event arrives now
    run(held, aws, config)
    # THEN the second generation did not end before it began: a time inside it restores exactly
    timeline = read_timeline(aws, config, "upd")
    ended = timeline.generation(second.label)
    assert ended is not None and ended.end is not None and ended.end > inside, ended
    store = BackupStore(aws, config, tmp_path)
    result = Restorer(aws, store).restore("upd", "upd-inside", RestoreOptions(at=str(inside)))
    assert result.verified and names(aws, "upd-inside") == {"a1"}


@pytest.mark.parametrize("found_by", ["the stream-off event", "the hourly reconcile"])
def test_a_stream_switched_to_another_view_type_ends_its_generation_and_later_times_are_refused(
    aws: Clients, config: Config, make_table: Callable[..., str], tmp_path: Path, found_by: str
) -> None:
    # GIVEN a protected table with an item
    make_table("sw")
    put(aws, "sw", "a1")
    assert Provisioner(aws, config).ensure("sw").status == "protected"
    next_second()
    before = time.time()
    next_second()
    # WHEN another consumer switches its stream to KEYS_ONLY (off, then on with its view type)
    # and writes, and the ensure function hears of it
    aws.dynamodb.update_table(TableName="sw", StreamSpecification={"StreamEnabled": False})
    off = time.time()
    next_second()
    aws.dynamodb.update_table(
        TableName="sw", StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}
    )
    keys_only = label_time(stream_label(aws.dynamodb.describe_table(TableName="sw")["Table"]["LatestStreamArn"]))
    put(aws, "sw", "a2")
    event = stream_off("sw", off) if found_by == "the stream-off event" else load_event("scheduled.json")
    seen = time.time()
    assert run(event, aws, config)["results"][0]["status"] == "not_protectable"
    # THEN the generation ended when capture stopped: after the call's second, or (no event) by
    # when the KEYS_ONLY stream was made
    expected = math.floor(off) + 1 if found_by == "the stream-off event" else keys_only
    assert expected is not None and off < expected <= seen + 1
    row = table_status(Provisioner(aws, config), OptIn.from_config(config, strict=False), "sw")
    assert not row.protected and row.restorable[-1][1] == iso(expected), row
    # AND the latest state is refused, with the reason and the last restorable time (exit 2, one line)
    path = str(gap_config(tmp_path))
    code, _, err = cli("restore", "sw", "--to", "sw-now", "--config", path)
    assert code == 2 and "stream switched to KEYS_ONLY" in err and err.count("\n") == 1, err
    assert f"restorable times before it end at {iso(expected)}" in err
    # AND a time before the switch restores exactly
    store = BackupStore(aws, config, tmp_path)
    result = Restorer(aws, store).restore("sw", "sw-before", RestoreOptions(at=str(before)))
    assert result.verified and names(aws, "sw-before") == {"a1"}


def test_a_write_in_the_second_the_stream_is_turned_off_is_restorable(
    deployed: tuple[Config, LocalRuntime], aws: Clients, make_table: Callable[..., str], config_path: str
) -> None:
    config, runtime = deployed
    # GIVEN a protected table with an item
    make_table("sec")
    runtime.settle()
    put(aws, "sec", "a1")
    runtime.settle()
    # WHEN an item is written and the stream turned off in the same second, and the UpdateTable
    # event (its eventTime that second) reaches the ensure function
    next_second()
    put(aws, "sec", "x1")
    aws.dynamodb.update_table(TableName="sec", StreamSpecification={"StreamEnabled": False})
    off = time.time()
    assert off % 1 < 0.9, "the write and the call were not in one second"
    assert runtime.dispatch(stream_off("sec", off)) == 1
    runtime.settle()
    # THEN the state at that second holds the item
    second = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(off))
    code, out, err = cli("restore", "sec", "--to", "sec-off", "--config", config_path, "--at", second)
    assert code == 0 and "verified" in out, err
    assert names(aws, "sec-off") == {"a1", "x1"}
    # AND the generation's span ends right after that second
    spans = read_timeline(aws, config, "sec").restorable()
    assert spans[0][1] == math.floor(off) + 1


def test_an_end_before_its_stream_began_is_never_written_and_one_written_so_is_replaced(
    aws: Clients, config: Config, make_table: Callable[..., str]
) -> None:
    # GIVEN a protected table
    make_table("fact", stream="NEW_AND_OLD_IMAGES")
    assert Provisioner(aws, config).ensure("fact").status == "protected"
    label = stream_label(aws.dynamodb.describe_table(TableName="fact")["Table"]["LatestStreamArn"])
    start = label_time(label)
    assert start is not None
    key = f"backups/@timelines/fact/end/{label}.json"
    # WHEN an end before its stream began is noted, THEN nothing is written
    assert not record_end(aws, config, "fact", label, math.floor(start), "deleted")
    assert aws.s3.list_objects_v2(Bucket=config.firehose_delivery_bucket, Prefix=key)["KeyCount"] == 0
    # AND one an older version wrote so ends nothing: the true end replaces it
    bad = {"streamLabel": label, "end": math.floor(start), "endedBy": "deleted"}
    aws.s3.put_object(Bucket=config.firehose_delivery_bucket, Key=key, Body=json.dumps(bad).encode())
    assert open_labels(aws, config, "fact") == [label]
    assert record_end(aws, config, "fact", label, start + 5, "stream disabled")
    assert read_timeline(aws, config, "fact").generation(label).end == start + 5  # type: ignore[union-attr]
    assert not record_end(aws, config, "fact", label, start + 9, "stream disabled")  # the first true end stays


def test_an_ensure_that_saw_capture_off_does_not_end_the_generation_a_concurrent_one_began(
    aws: Clients, config: Config, make_table: Callable[..., str]
) -> None:
    # GIVEN a protected table whose stream someone turned off
    make_table("race")
    assert Provisioner(aws, config).ensure("race").status == "protected"
    aws.dynamodb.update_table(TableName="race", StreamSpecification={"StreamEnabled": False})
    # WHEN one ensure observes it off and is held there while another turns it on again
    # (a new generation) within the same second
    held, go = threading.Event(), threading.Event()
    slow = Clients(REGION)

    def pause(**_: object) -> None:
        held.set()
        go.wait(10)

    slow.dynamodb.meta.events.register_first("after-call.dynamodb.DescribeTable", pause)
    next_second()
    first = threading.Thread(target=lambda: Provisioner(slow, config).ensure("race"))
    first.start()
    assert held.wait(10)
    slow.dynamodb.meta.events.unregister("after-call.dynamodb.DescribeTable", pause)
    assert Provisioner(aws, config).ensure("race").status == "protected"
    current = stream_label(aws.dynamodb.describe_table(TableName="race")["Table"]["LatestStreamArn"])
    go.set()
    first.join(30)
    # THEN the held one, done after, leaves the new generation open
    assert read_timeline(aws, config, "race").generation(current).end is None  # type: ignore[union-attr]
