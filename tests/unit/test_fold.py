"""The ensure function's checkpoint fold (snapshot/checkpoint.py) against the pure reference
model of restore/state.py: same state at T from a base and the changes since."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dynamo_continuous_backup.core.timeline import Base, Timeline
from dynamo_continuous_backup.restore.state import item_state
from dynamo_continuous_backup.snapshot.checkpoint import fold

T0 = 1_700_000_000.0
KEYS = [f"k{i}" for i in range(6)]

changes = st.lists(
    st.tuples(st.sampled_from(KEYS), st.sampled_from(["INSERT", "MODIFY", "REMOVE"]), st.integers(0, 500)),
    max_size=40,
)


def record(n: int, key: str, event: str, offset: int, label: str) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "Keys": {"pk": {"S": key}},
        "SequenceNumber": str(10**20 + n),
        "eventName": event,
        "ApproximateCreationDateTime": T0 + 100 + offset,
        "streamLabel": label,
    }
    if event != "REMOVE":
        rec["NewImage"] = {"pk": {"S": key}, "v": {"N": str(n)}}
    return rec


@settings(max_examples=60)
@given(changes, st.lists(st.sampled_from(KEYS), unique=True), st.integers(0, 600))
def test_the_fold_equals_the_reference_model(
    writes: list[tuple[str, str, int]], in_base: list[str], at_offset: int
) -> None:
    # GIVEN a base at T0 and changes after it, some of another generation (never to be read)
    base = {k: {"pk": {"S": k}, "v": {"N": "-1"}} for k in in_base}
    mine = [record(n, k, e, o, "g") for n, (k, e, o) in enumerate(writes)]
    other = [record(1000 + n, k, "INSERT", o, "other") for n, (k, _, o) in enumerate(writes)]
    tl = Timeline("t").begin("g", T0 - 10).with_base("g", Base("b", "scan", T0, T0 + 1))
    at = T0 + 100 + at_offset
    window = tl.window(at, now=at)
    # WHEN the fold computes the state at T
    state = fold(iter([{"NewImage": v} for v in base.values()]), iter(mine + other), ["pk"], window, dict)
    # THEN it is the reference model's, item by item
    expected = {}
    for key in KEYS:
        image = item_state([r for r in mine if r["Keys"]["pk"]["S"] == key], at, base.get(key))
        if image is not None:
            expected[key] = image
    assert {v["pk"]["S"]: v for v in state.values()} == expected
