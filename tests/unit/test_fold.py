"""The ensure function's checkpoint fold (snapshot/fold.py) against the pure reference model of
restore/state.py: same state at T from a base and the changes since, streamed (base and output
in gzip parts read in chunks of any size), holding only the window's newest change per key."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynamo_continuous_backup.core.records import dumps, loads
from dynamo_continuous_backup.core.timeline import Base, Timeline, Window
from dynamo_continuous_backup.restore.state import item_state
from dynamo_continuous_backup.snapshot.fold import (
    HELD_PER_KEY,
    WindowTooLarge,
    gzip_parts,
    merge,
    newest_changes,
    stream_lines,
)

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


def chunked(data: bytes, size: int) -> Iterator[bytes]:
    return (data[i : i + size] for i in range(0, len(data), size))


def fold(
    base_rows: list[dict[str, Any]],
    records: list[dict[str, Any]],
    window: Window,
    full_image: Callable[[str], dict[str, Any]],
    chunk: int = 7,
    part_bytes: int = 64,
    limit: int = 1 << 30,
) -> dict[str, dict[str, Any]]:
    """The fold as the ensure function runs it: base and changes as gzip objects read in chunks,
    the state out as gzip parts; returns the state by key (asserting no key is written twice)."""
    changes_gz = gzip.compress(b"".join(dumps(r) + b"\n" for r in records))
    base_gz = gzip.compress(b"".join(dumps(r) + b"\n" for r in base_rows[: len(base_rows) // 2]))
    base_gz += gzip.compress(b"".join(dumps(r) + b"\n" for r in base_rows[len(base_rows) // 2 :]))  # 2 members
    held = newest_changes(stream_lines(chunked(changes_gz, chunk)), ["pk"], window, limit)
    count = [0]
    lines = merge(stream_lines(chunked(base_gz, chunk)), held, ["pk"], full_image)
    parts = list(gzip_parts(lines, part_bytes, count))
    items = [loads(line)["Item"] for part in parts for line in gzip.decompress(part).splitlines()]
    assert len(items) == count[0] and len({i["pk"]["S"] for i in items}) == len(items)
    return {i["pk"]["S"]: i for i in items}


@settings(max_examples=60)
@given(changes, st.lists(st.sampled_from(KEYS), unique=True), st.integers(0, 600), st.integers(1, 40))
def test_the_fold_equals_the_reference_model(
    writes: list[tuple[str, str, int]], in_base: list[str], at_offset: int, chunk: int
) -> None:
    # GIVEN a base at T0 and changes after it, some of another generation (never to be read)
    base = {k: {"pk": {"S": k}, "v": {"N": "-1"}} for k in in_base}
    mine = [record(n, k, e, o, "g") for n, (k, e, o) in enumerate(writes)]
    other = [record(1000 + n, k, "INSERT", o, "other") for n, (k, _, o) in enumerate(writes)]
    tl = Timeline("t").begin("g", T0 - 10).with_base("g", Base("b", "scan", T0, T0 + 1))
    at = T0 + 100 + at_offset
    window = tl.window(at, now=at)
    # WHEN the fold computes the state at T
    rows = [{"NewImage": v} if n % 2 else {"Item": v} for n, v in enumerate(base.values())]
    state = fold(rows, mine + other, window, dict, chunk)
    # THEN it is the reference model's, item by item
    expected = {}
    for key in KEYS:
        image = item_state([r for r in mine if r["Keys"]["pk"]["S"] == key], at, base.get(key))
        if image is not None:
            expected[key] = image
    assert state == expected


def window_of(at: float) -> Window:
    return Timeline("t").begin("g", T0 - 10).with_base("g", Base("b", "scan", T0, T0 + 1)).window(at, now=at)


def test_an_oversize_change_takes_its_image_from_the_full_record() -> None:
    pointer = {**record(1, "k1", "MODIFY", 5, "g"), "oversizeS3Key": "backups/@oversize/t/1.json"}
    del pointer["NewImage"]
    big = {"pk": {"S": "k1"}, "blob": {"S": "x" * 500_000}}
    state = fold([{"Item": {"pk": {"S": "k1"}}}], [pointer], window_of(T0 + 200), lambda key: big)
    assert state == {"k1": big}


def test_the_window_held_is_counted_and_refused_over_the_limit() -> None:
    # 50 changes to 10 keys hold 10 images: the limit is on what is held, not on what is read
    records = [record(n, f"k{n % 10}", "MODIFY", n, "g") for n in range(50)]
    held = newest_changes((dumps(r) for r in records), ["pk"], window_of(T0 + 200), 1 << 20)
    assert len(held) == 10 and all(int(s) >= 10**20 + 40 for s, _ in held.values())
    limit = sum(HELD_PER_KEY + len(k) + len(s) + len(line or b"") for k, (s, line) in held.items())
    assert len(newest_changes((dumps(r) for r in records), ["pk"], window_of(T0 + 200), limit)) == 10
    with pytest.raises(WindowTooLarge):
        newest_changes((dumps(r) for r in records), ["pk"], window_of(T0 + 200), limit - 1)


def test_a_base_key_written_twice_is_replaced_once_by_its_change() -> None:
    rows = [{"Item": {"pk": {"S": "k1"}, "v": {"N": "1"}}}, {"Item": {"pk": {"S": "k1"}, "v": {"N": "2"}}}]
    state = fold(rows, [record(5, "k1", "MODIFY", 5, "g")], window_of(T0 + 200), dict)
    assert state == {"k1": {"pk": {"S": "k1"}, "v": {"N": "5"}}}


@pytest.mark.parametrize("chunk", [1, 3, 1 << 16])
def test_lines_stream_from_gzip_members_and_plain_objects_in_any_chunks(chunk: int) -> None:
    big = 3_000_000 if chunk > 1 else 30_000  # over the 1 MiB a decompression step yields
    lines = [b'{"a":%d}' % n for n in range(2000)] + [b'{"big":"' + b"y" * big + b'"}']
    data = b"\n".join(lines) + b"\n"
    two = gzip.compress(data[:5000]) + gzip.compress(data[5000:])
    for blob in (data, data.rstrip(b"\n"), gzip.compress(data), two):
        assert list(stream_lines(chunked(blob, chunk))) == lines


def test_gzip_parts_split_by_compressed_size_and_an_empty_state_is_one_empty_part() -> None:
    count = [0]
    parts = list(gzip_parts((b'{"n":"%032x"}\n' % (n * 7919) for n in range(20_000)), 4096, count))
    assert len(parts) >= 3 and count == [20_000]  # zlib emits its output some tens of kB at a time
    assert b"".join(gzip.decompress(p) for p in parts).count(b"\n") == 20_000
    assert [gzip.decompress(p) for p in gzip_parts(iter([]), 4096, [0])] == [b""]
