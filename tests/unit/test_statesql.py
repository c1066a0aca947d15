"""The one state-at-T definition: its Athena rendering is Trino SQL, and both renderings (the
Athena one transpiled to DuckDB by sqlglot) give the reference model's state on the same files,
across generations, bases, duplicates and every attribute type."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynamo_continuous_backup.core.records import loads
from dynamo_continuous_backup.core.timeline import Base, Timeline
from dynamo_continuous_backup.restore.keys import key_text
from dynamo_continuous_backup.restore.statequery import read_files
from dynamo_continuous_backup.restore.statesql import state_select

from .test_keys import typed
from .test_state import attrs, write

NAMES = ("pk", "sk")
LABELS = ("2026-01-01T00:00:00.000", "2026-01-02T00:00:00.000", "2026-01-03T00:00:00.000")
# Athena's table of the backups has JSON columns as text (explore/athena.py's DDL).
ATHENA_COLUMNS = (
    "CAST(Keys AS VARCHAR) AS Keys, CAST(NewImage AS VARCHAR) AS NewImage, CAST(OldImage AS VARCHAR) AS OldImage, "
    "CAST(Item AS VARCHAR) AS Item, SequenceNumber, eventName, ApproximateCreationDateTime, eventID, "
    "oversizeS3Key, streamLabel"
)


def athena_on_duckdb(sql: str) -> str:
    """The SQL the Athena path sends, as sqlglot translates it to DuckDB."""
    return sqlglot.transpile(sql, read="athena", write="duckdb")[0]


def run_both(
    tmp: Path, changes: list[Path], base: list[Path] | None, **kwargs: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """{key text: image} from the DuckDB rendering and from the transpiled Athena one."""
    con = duckdb.connect()
    con.execute(f"CREATE VIEW changes AS SELECT {ATHENA_COLUMNS} FROM ({read_files(changes)})")
    if base is not None:
        con.execute(f"CREATE VIEW base AS SELECT {ATHENA_COLUMNS} FROM ({read_files(base)})")
    ours = state_select(
        "duckdb", f"({read_files(changes)})", f"({read_files(base)})" if base is not None else None, NAMES, **kwargs
    )
    athena = state_select("athena", "changes", "base" if base is not None else None, NAMES, **kwargs)
    got = []
    for sql in (ours, athena_on_duckdb(athena)):
        rows = con.execute(sql).fetchall()
        assert all(p is None for _, _, p in rows)
        assert len({k for k, _, _ in rows}) == len(rows)  # one row per item
        got.append({k: loads(img) for k, img, _ in rows})
    return got[0], got[1]


def test_the_athena_rendering_is_trino_sql() -> None:
    tl = Timeline("t").begin(LABELS[0], 100.0).with_base(LABELS[0], Base("r1", "scan", 150.0, 160.0))
    window = tl.window(300.0, now=400.0)
    sql = state_select("athena", "changes", "base", NAMES, 300.0, window, "a = 'x' AND n > 1", only_key="S1:a")
    for dialect in ("athena", "trino"):
        tree = sqlglot.parse_one(sql, read=dialect)
        assert tree.find(sqlglot.exp.Join) is None  # no ANTI JOIN (Trino has none)
    assert "MAX_BY" in sql and "ARBITRARY" in sql and "NOT EXISTS" in sql
    # nothing DuckDB-only reached the Athena text
    for duckdb_only in ("ARG_MAX", "STRUCT", "ANY_VALUE", "JSON_EXTRACT_STRING", "STRLEN", "ANTI"):
        assert duckdb_only not in sql.upper()


# -- keys ----------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.fixed_dictionaries({"pk": typed, "sk": typed}), min_size=1, max_size=20))
def test_key_texts_are_equal_on_both_engines(tmp_path: Path, keys: list[dict[str, Any]]) -> None:
    # GIVEN tricky keys (control characters, numbers as DynamoDB stores them, binary) as base rows
    unique = {json.dumps(k, sort_keys=True): k for k in keys}.values()  # a base holds each key once
    lines = [{"Keys": k, "NewImage": {**k, "i": {"N": str(i)}}} for i, k in enumerate(unique)]
    path = tmp_path / "keys.ndjson"
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    # WHEN both renderings compute the state
    ours, athena = run_both(tmp_path, [], [path], at=None, window=None)
    # THEN every key text is Python's canonical one, on both
    expected = {key_text(r["NewImage"], list(NAMES)): r["NewImage"] for r in lines}
    assert ours == athena == expected


# -- the state at T ------------------------------------------------------------------------

key = st.tuples(st.sampled_from(["a", "é", "", "x\x00y", "k" * 30]), st.sampled_from(["-5", "12345678901234567890"]))
event = st.tuples(key, st.sampled_from(["put", "put", "delete"]), attrs, st.integers(0, 3))


def history(gens: list[list[tuple[Any, ...]]], labelled: list[bool]) -> list[dict[str, Any]]:
    """Stream records of several generations (each a recreated table: no item carries over)."""
    records: list[dict[str, Any]] = []
    seq = 10**20 - 2  # crosses a digit boundary
    for g, events in enumerate(gens):
        state: dict[Any, Any] = {}
        now = 1000 * (g + 1)
        for (pk, sk), op, extra, dt in events:
            now += dt
            keys = {"pk": {"S": pk}, "sk": {"N": sk}}
            if op == "delete" and (pk, sk) not in state:
                continue
            seq += 1
            rec: dict[str, Any] = {"Keys": keys, "SequenceNumber": str(seq), "ApproximateCreationDateTime": now}
            rec["eventID"] = f"e{seq}"
            if labelled[len(records) % len(labelled)]:  # older files have no label: read by time
                rec["streamLabel"] = LABELS[g]
            if op == "delete":
                rec["eventName"] = "REMOVE"
                del state[(pk, sk)]
            else:
                rec["eventName"] = "MODIFY" if (pk, sk) in state else "INSERT"
                state[(pk, sk)] = rec["NewImage"] = {**extra, **keys}
            records.append(rec)
    return records


def reference(records: list[dict[str, Any]], gen: int, at: float) -> dict[str, Any]:
    """Replay generation `gen`'s changes up to `at` in sequence order: the state at `at`."""
    state: dict[str, Any] = {}
    for r in sorted(records, key=lambda r: int(r["SequenceNumber"])):
        t = r["ApproximateCreationDateTime"]
        mine = r.get("streamLabel", LABELS[min(int(t // 1000) - 1, 2)]) == LABELS[gen]
        if mine and t <= at:
            k = key_text(r["Keys"], list(NAMES))
            if r["eventName"] == "REMOVE":
                state.pop(k, None)
            else:
                state[k] = r["NewImage"]
    return state


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.data_too_large, HealthCheck.too_slow],
)
@given(
    gens=st.lists(st.lists(event, min_size=1, max_size=12), min_size=1, max_size=3),
    labelled=st.lists(st.booleans(), min_size=1, max_size=4),
    data=st.data(),
)
def test_both_renderings_give_the_reference_state(
    tmp_path_factory: pytest.TempPathFactory, gens: list[Any], labelled: list[bool], data: st.DataObject
) -> None:
    records = history(gens, labelled)
    if not records:
        return
    tmp = tmp_path_factory.mktemp("statesql")
    # GIVEN a timeline of generations, one of them with a base (a snapshot at `snap`)
    g = data.draw(st.sampled_from(sorted({int(r["ApproximateCreationDateTime"] // 1000) - 1 for r in records})))
    times = sorted(
        {r["ApproximateCreationDateTime"] for r in records if r["ApproximateCreationDateTime"] // 1000 == g + 1}
    )
    snap = data.draw(st.sampled_from(times))
    from_start = data.draw(st.booleans())  # no base: the generation's changes from its start
    tl = Timeline("t")
    for i in range(len(gens)):
        tl = tl.begin(LABELS[i], 1000.0 * (i + 1))
    if not from_start:
        tl = tl.with_base(LABELS[g], Base("r1", "scan", snap, snap))
    ats = [t + d for t in times for d in (-0.5, 0, 0.5)] + [times[-1] + 9]
    at = data.draw(st.sampled_from([t for t in ats if t >= (1000.0 * (g + 1) if from_start else snap)]))
    window = tl.window(at, now=10_000.0, from_start=from_start, margin=data.draw(st.sampled_from([0.0, 1.0, 5.0])))
    # AND the change records spread over files, with duplicates (retries), the base as a scan writes it
    dupes = data.draw(st.lists(st.sampled_from(records), max_size=5))
    split = data.draw(st.integers(0, len(records)))
    files = [write(tmp / "c1", records[:split], True), write(tmp / "c2", records[split:] + dupes, False)]
    base_rows = [{"Keys": {n: img[n] for n in NAMES}, "NewImage": img} for img in reference(records, g, snap).values()]
    base = None if from_start else [write(tmp / "b1", base_rows, True)]
    # WHEN both renderings compute the state at `at`
    ours, athena = run_both(tmp, files, base, at=at, window=window)
    # THEN both are the reference model's state
    assert ours == athena == reference(records, g, at)


def test_records_of_another_generation_are_never_read(tmp_path: Path) -> None:
    # GIVEN a table deleted and recreated (generation 1 after 0), the same key in both, and a
    # record of the old stream whose time falls inside the new generation (delivered late)
    keys = {"pk": {"S": "a"}, "sk": {"N": "1"}}

    def rec(seq: int, when: float, label: str, event: str = "INSERT") -> dict[str, Any]:
        image = {**keys, "v": {"N": str(seq)}}
        return {
            "Keys": keys,
            "NewImage": image,
            "SequenceNumber": str(seq),
            "eventName": event,
            "ApproximateCreationDateTime": when,
            "streamLabel": label,
        }

    records = [rec(1, 1001, LABELS[0]), rec(2, 2001, LABELS[1]), rec(3, 2002, LABELS[0], "MODIFY")]
    files = [write(tmp_path / "c", records, False)]
    tl = Timeline("t").begin(LABELS[0], 1000.0).begin(LABELS[1], 2000.0)
    base_rows = [{"Item": {**keys, "v": {"N": "2"}}}]
    for from_start, base in ((True, None), (False, [write(tmp_path / "b", base_rows, False)])):
        if not from_start:
            tl = tl.with_base(LABELS[1], Base("r1", "scan", 2001.5, 2001.5))
        window = tl.window(2005.0, now=3000.0, from_start=from_start)
        # WHEN the state of generation 1 is computed
        ours, athena = run_both(tmp_path, files, base, at=2005.0, window=window)
        # THEN it is generation 1's item, never the old stream's later version
        assert ours == athena == {key_text(keys, list(NAMES)): {**keys, "v": {"N": "2"}}}
