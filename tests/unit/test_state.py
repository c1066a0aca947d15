"""State at T: property tests against a reference model, and the pure rules."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynamo_continuous_backup.core.errors import UserInputError
from dynamo_continuous_backup.core.records import loads
from dynamo_continuous_backup.restore.backups import LocalBackups, SnapshotRun
from dynamo_continuous_backup.restore.state import item_state, parse_time, table_checksum
from dynamo_continuous_backup.restore.statequery import connect, iter_state

SCHEMA = {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]}

text = st.text(max_size=12)
number = st.one_of(
    st.integers(-(10**38) + 1, 10**38 - 1).map(str),
    st.decimals(allow_nan=False, allow_infinity=False, places=5).map(str),
)
binary = st.binary(max_size=12).map(lambda b: base64.b64encode(b).decode())
scalar = st.one_of(
    text.map(lambda v: {"S": v}),
    number.map(lambda v: {"N": v}),
    binary.map(lambda v: {"B": v}),
    st.booleans().map(lambda v: {"BOOL": v}),
    st.just({"NULL": True}),
    st.sets(text.filter(bool), min_size=1, max_size=4).map(lambda v: {"SS": sorted(v)}),
    st.sets(st.integers(-(10**30), 10**30).map(str), min_size=1, max_size=4).map(lambda v: {"NS": sorted(v)}),
    st.sets(binary, min_size=1, max_size=3).map(lambda v: {"BS": sorted(v)}),
    st.text(min_size=3000, max_size=6000).map(lambda v: {"S": v}),  # large items
)
value = st.recursive(
    scalar,
    lambda inner: st.one_of(
        st.dictionaries(text, inner, max_size=3).map(lambda v: {"M": v}),
        st.lists(inner, max_size=3).map(lambda v: {"L": v}),
    ),
    max_leaves=6,
)
attrs = st.dictionaries(st.text(min_size=1, max_size=6).filter(lambda k: k not in ("pk", "sk")), value, max_size=4)
key = st.tuples(st.sampled_from(["a", "é", "", "k" * 30]), st.sampled_from(["-5", "12345678901234567890"]))
event = st.tuples(key, st.sampled_from(["put", "put", "delete"]), attrs, st.integers(0, 3))


def build(events: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Stream records as DynamoDB would emit them for these writes (times never go back)."""
    records, state, now, seq = [], {}, 1_000, 10**20 - 2  # the 2nd record crosses a digit boundary
    for (pk, sk), op, extra, dt in events:
        now += dt
        keys = {"pk": {"S": pk}, "sk": {"N": sk}}
        k = (pk, sk)
        if op == "delete" and k not in state:
            continue
        seq += 1
        rec: dict[str, Any] = {
            "Keys": keys,
            "SequenceNumber": str(seq),
            "ApproximateCreationDateTime": now,
            "eventID": f"e{seq}",
            "tableName": "t",
        }
        if k in state:
            rec["OldImage"] = state[k]
        if op == "delete":
            rec["eventName"] = "REMOVE"
            del state[k]
        else:
            rec["eventName"] = "MODIFY" if k in state else "INSERT"
            state[k] = rec["NewImage"] = {**extra, **keys}
        records.append(rec)
    return records


def reference(records: list[dict[str, Any]], at: float) -> dict[tuple[str, str], Any]:
    """The simplest possible model: replay every change up to `at` in order."""
    state: dict[tuple[str, str], Any] = {}
    for r in records:
        if r["ApproximateCreationDateTime"] <= at:
            k = (r["Keys"]["pk"]["S"], r["Keys"]["sk"]["N"])
            if r["eventName"] == "REMOVE":
                state.pop(k, None)
            else:
                state[k] = r["NewImage"]
    return state


def write(path: Path, records: list[dict[str, Any]], compress: bool) -> Path:
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()
    path = path.with_suffix(".ndjson.gz" if compress else ".ndjson")
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


# Large items (3000-6000 characters) are part of the point: their size is not a health problem.
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)
@given(events=st.lists(event, min_size=1, max_size=30), data=st.data())
def test_restore_equals_reference_at_random_times(
    tmp_path_factory: pytest.TempPathFactory, events: list[Any], data: st.DataObject
) -> None:
    records = build(events)
    if not records:
        return
    tmp = tmp_path_factory.mktemp("state")
    times = sorted({r["ApproximateCreationDateTime"] for r in records})
    # GIVEN capture started late (changes before `capture` are not in S3), a snapshot of the
    # state at `snap` >= capture, retries' duplicates and records spread over several files
    capture = data.draw(st.sampled_from(times))
    snap = data.draw(st.sampled_from([t for t in times if t >= capture]))
    captured = [r for r in records if r["ApproximateCreationDateTime"] >= capture]
    dupes = data.draw(st.lists(st.sampled_from(captured), max_size=5)) if captured else []
    split = data.draw(st.integers(0, len(captured)))
    files = [
        write(tmp / "c1", captured[:split], True),
        write(tmp / "c2", captured[split:], False),
        write(tmp / "c3", dupes, True),
    ]
    snapshot = [
        {"Keys": {"pk": img["pk"], "sk": img["sk"]}, "NewImage": img, "eventName": "SNAPSHOT"}
        for img in reference(records, snap).values()
    ]
    snap_file = write(tmp / "s1", snapshot, True)
    backups = LocalBackups("t", files, [SnapshotRun("r1", snap, snap, len(snapshot), (snap_file,))], SCHEMA)
    assert backups.earliest_restorable() == snap
    # WHEN the state is computed at random times from the earliest restorable one on
    for at in data.draw(
        st.lists(st.sampled_from([t for t in times if t >= snap] + [snap + 0.5, times[-1] + 9]), min_size=1, max_size=3)
    ):
        got = {
            tuple(loads(img)[a][t] for a, t in (("pk", "S"), ("sk", "N"))): loads(img)
            for _, img, _ in iter_state(connect(), backups, at)
        }
        # THEN it equals the reference model that saw every change
        assert got == reference(records, at)
        for k, image in reference(records, at).items():
            mine = [r for r in captured + dupes if (r["Keys"]["pk"]["S"], r["Keys"]["sk"]["N"]) == k]
            snap_img = next(
                (s["NewImage"] for s in snapshot if (s["Keys"]["pk"]["S"], s["Keys"]["sk"]["N"]) == k), None
            )
            assert item_state(mine, at, snap_img) == image
        # AND the state of one item alone (restore --key) is that item's row of the whole state
        for k, img, ptr in list(iter_state(connect(), backups, at))[:3]:
            assert list(iter_state(connect(), backups, at, only=k)) == [(k, img, ptr)]


def test_sequence_numbers_compare_numerically_not_as_text() -> None:
    recs = [
        {"SequenceNumber": "99", "eventName": "INSERT", "NewImage": {"v": {"N": "1"}}},
        {"SequenceNumber": "100", "eventName": "MODIFY", "NewImage": {"v": {"N": "2"}}},
    ]
    assert item_state(recs, 0) == {"v": {"N": "2"}}
    assert item_state(list(reversed(recs)), 0) == {"v": {"N": "2"}}


def test_remove_deletes_and_time_bounds_apply() -> None:
    recs = [
        {"SequenceNumber": "1", "eventName": "INSERT", "NewImage": {"a": {"S": "x"}}, "ApproximateCreationDateTime": 5},
        {"SequenceNumber": "2", "eventName": "REMOVE", "ApproximateCreationDateTime": 9},
    ]
    assert item_state(recs, 5) == {"a": {"S": "x"}}
    assert item_state(recs, 9) is None
    assert item_state(recs, 4, {"a": {"S": "snap"}}) == {"a": {"S": "snap"}}


@pytest.mark.parametrize(
    ("text", "epoch"),
    [
        ("1700000000", 1700000000.0),
        ("2023-11-14T22:13:20Z", 1700000000.0),
        ("2023-11-14T22:13:20", 1700000000.0),
        ("2023-11-14T23:13:20+01:00", 1700000000.0),
    ],
)
def test_parse_time(text: str, epoch: float) -> None:
    assert parse_time(text, 0) == epoch


@pytest.mark.parametrize("text", ["yesterday", "nan", "NaN", "inf", "-inf", "Infinity", "1e300"])
def test_malformed_time_is_a_user_error(text: str) -> None:
    # nan and inf parse as floats: unchecked they reach the SQL and look like a corrupt backup
    with pytest.raises(UserInputError, match=f"--at '{text}' is not a time"):
        parse_time(text, 0)


def test_checksum_ignores_order() -> None:
    assert table_checksum([1, 2, 3]) == table_checksum([3, 1, 2]) != table_checksum([1, 2])
