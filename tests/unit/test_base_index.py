"""The base facts' names (core/timeline_store.py): a name says all the timeline needs of a base's
manifest, so the timeline built from names equals the one built from manifests."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from dynamo_continuous_backup.core.config import Config
from dynamo_continuous_backup.core.lateness import unseen_by
from dynamo_continuous_backup.core.timeline_store import base_fact_key, base_summaries, build_timeline, pruned_marks

CONFIG = Config(firehose_delivery_bucket="b", firehose_delivery_prefix="backups")
ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/t.x-1/stream/"
times = st.floats(1e9, 4e9, allow_nan=False)
manifests = st.fixed_dictionaries(
    {
        "runId": st.sampled_from(["20231114T221320Z-scan", "20231114T221320Z-checkpoint-fn-ab12cd34", "a,b%c"]),
        "kind": st.sampled_from(["scan", "export", "checkpoint"]),
        "startTime": times,
        "endTime": times,
        "items": st.integers(0, 10**12),
    },
    optional={
        "streamArn": st.sampled_from([ARN + "2023-11-14T22:13:20.123", ARN + "2024-01-01T00:00:00.000", None]),
        "streamLabel": st.sampled_from(["2023-11-14T22:13:20.123", "label,with/odd%chars", ""]),
        # what the late-change check needs of a checkpoint (core/lateness.py)
        "from": st.sampled_from(["20231113T221320Z-scan", "a,b%c", ""]),
        "listedNewest": times,
        "listedSeen": st.lists(st.sampled_from(["b/t/2023/11/14/22/x-1", "b/t/y,+%2", "z"]), max_size=3),
    },
)


def manifest_key(m: dict[str, Any]) -> str:
    return f"backups/@snapshots/t.x-1/{m['runId']}/manifest.json"


@given(st.lists(manifests, max_size=6, unique_by=lambda m: m["runId"]))
def test_a_timeline_from_fact_names_equals_the_one_from_manifests(bases: list[dict[str, Any]]) -> None:
    keys = [k for k in (base_fact_key(CONFIG, "t.x-1", m) for m in bases) if k is not None]
    summaries = base_summaries(CONFIG, "t.x-1", keys + ["backups/@timelines/t.x-1/begin/x.json"])
    assert set(summaries) == {manifest_key(m) for m in bases}
    by_manifest = {manifest_key(m): m for m in bases}
    assert build_timeline("t.x-1", {}, summaries) == build_timeline("t.x-1", {}, by_manifest)


def test_a_fact_name_this_version_cannot_read_is_skipped_so_its_manifest_is_read() -> None:
    root = "backups/@timelines/t/bases/"
    keys = [root + "run1/scan,label,1.0,2.0", root + "run2/scan,label,x,2.0,3", root + "run3"]
    assert base_summaries(CONFIG, "t", keys) == {}


def test_retention_marks_are_read_from_their_names() -> None:
    keys = ["backups/@timelines/t/pruned/1700000000.json", "backups/@timelines/t/pruned/odd.json", "x/begin/1.json"]
    assert pruned_marks(keys) == {keys[0]: {"before": 1700000000.0}}


def test_a_checkpoint_that_saw_too_many_objects_at_its_newest_time_counts_that_second_as_seen() -> None:
    m = {"runId": "r", "kind": "checkpoint", "startTime": 1.0, "endTime": 2.0, "listedNewest": 2.0}
    few = base_fact_key(CONFIG, "t", {**m, "listedSeen": [str(n) for n in range(40)]})
    many = base_fact_key(CONFIG, "t", {**m, "listedSeen": [str(n) for n in range(41)]})
    assert not few.endswith(",%2A") and many.endswith(",%2A")  # "*", quoted
    [base] = [b for g in build_timeline("t", {}, base_summaries(CONFIG, "t", [many])).generations for b in g.bases]
    assert not unseen_by(base, 2.0, "any/key") and unseen_by(base, 2.5, "any/key")
