"""State at T with DuckDB: statesql's one definition over the cached backup files, streamed,
bounded memory.

Sequence numbers exceed 64 bits, so they are compared left-padded as text, never as numbers
of a fixed width and never unpadded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb

from ..core.errors import BackupError, UserInputError
from ..core.records import dumps
from .backups import LocalBackups, SnapshotRun
from .keys import key_sql
from .statesql import state_select

log = logging.getLogger(__name__)

COLUMNS = {
    "Keys": "JSON",
    "NewImage": "JSON",
    "OldImage": "JSON",
    "Item": "JSON",
    "SequenceNumber": "VARCHAR",
    "eventName": "VARCHAR",
    "ApproximateCreationDateTime": "DOUBLE",
    "eventID": "VARCHAR",
    "oversizeS3Key": "VARCHAR",
    "streamLabel": "VARCHAR",  # absent (NULL) in files written before records carried it
}
ORDER = "lpad(SequenceNumber, 48, '0')"


class CorruptBackupError(BackupError):
    """A backup object could not be read."""


def connect(memory_limit: str = "1GB") -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"SET memory_limit='{memory_limit}'")
    con.execute("SET preserve_insertion_order=false")
    return con


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def read_files(files: list[Path]) -> str:
    """A SQL relation over NDJSON files (gzip and plain), with the backup record's columns."""
    cols = "{" + ", ".join(f"{_quote(k)}: {_quote(v)}" for k, v in COLUMNS.items()) + "}"
    parts = []
    for compression, group in (
        ("gzip", [f for f in files if f.suffix == ".gz"]),
        ("none", [f for f in files if f.suffix != ".gz"]),
    ):
        if group:
            names = "[" + ", ".join(_quote(str(f)) for f in group) + "]"
            parts.append(
                f"SELECT * FROM read_json({names}, format='newline_delimited', columns={cols}, "
                f"compression='{compression}', maximum_object_size=16777216)"
            )
    return (
        " UNION ALL ".join(parts)
        if parts
        else "SELECT " + ", ".join(f'NULL::{v} AS "{k}"' for k, v in COLUMNS.items()) + " WHERE false"
    )


def state_sql(backups: LocalBackups, at: float | None, only: str | None = None, where: str | None = None) -> str:
    """Rows (k, image, pointer) of every item present at `at` (None: the latest state), or of
    the one item whose key text is `only`, or of those matching `where` (plus oversize ones,
    whose image the caller fetches and tests): statesql's one definition, for DuckDB."""
    snapshot = _snapshot_for(backups, at)
    base = f"({read_files(list(snapshot.files))})" if snapshot is not None else None
    changes = f"({read_files(backups.change_files)})"
    return state_select("duckdb", changes, base, tuple(backups.key_names), at, backups.window, where, only)


def _snapshot_for(backups: LocalBackups, at: float | None) -> SnapshotRun | None:
    if backups.window is not None:  # the window's base, never another generation's
        base = backups.window.base
        return next((s for s in backups.snapshots if base is not None and s.run_id == base.run_id), None)
    runs = [s for s in backups.snapshots if at is None or s.end <= at]
    return runs[-1] if runs else None


def check_times(con: duckdb.DuckDBPyConnection, backups: LocalBackups) -> None:
    """Records without a time (written by the original tool) allow only a latest restore."""
    if not backups.change_files:
        return
    missing = con.execute(
        f"SELECT count(*) FROM ({read_files(backups.change_files)}) WHERE ApproximateCreationDateTime IS NULL"
    ).fetchone()
    if missing and missing[0]:
        raise UserInputError(
            f"{missing[0]} change records have no time (written by the original tool): "
            "only a restore to the latest state is possible; omit --at"
        )


def iter_state(
    con: duckdb.DuckDBPyConnection,
    backups: LocalBackups,
    at: float | None,
    batch: int = 5000,
    only: str | None = None,
    where: str | None = None,
) -> Iterator[tuple[str, str | None, str | None]]:
    """(key, image JSON, oversize pointer) rows, `batch` at a time (`only`: one key text's;
    `where`: a --where predicate's, see state_sql). The query runs now, so an unreadable backup
    raises CorruptBackupError here, before any row is used."""
    try:
        cursor = con.execute(state_sql(backups, at, only, where))
        first = cursor.fetchmany(batch)
    except duckdb.Error as exc:
        raise CorruptBackupError(str(exc).splitlines()[0]) from None
    return _stream(cursor, first, batch)


def _stream(cursor: duckdb.DuckDBPyConnection, rows: list[Any], batch: int) -> Iterator[Any]:
    while rows:
        yield from rows
        rows = cursor.fetchmany(batch)


def find_corrupt(files: list[Path]) -> list[Path]:
    """Files DuckDB cannot read on their own (used to name the culprits after a failure)."""
    bad = []
    con = connect()
    for f in files:
        try:
            con.execute(f"SELECT count(*) FROM ({read_files([f])})").fetchone()
        except duckdb.Error:
            bad.append(f)
    return bad


def changes_view(con: duckdb.DuckDBPyConnection, backups: LocalBackups, name: str = "changes") -> None:
    """A view of every change record, with the item key as text and time as a timestamp."""
    key = key_sql(backups.key_names)
    con.execute(f"""CREATE OR REPLACE VIEW {name} AS
        SELECT {key} AS item_key, Keys AS keys, NewImage AS new_image, OldImage AS old_image,
               eventName AS event_name, SequenceNumber AS sequence_number, eventID AS event_id,
               to_timestamp(ApproximateCreationDateTime) AS event_time, oversizeS3Key AS oversize_key,
               streamLabel AS stream_label
        FROM ({read_files(backups.change_files)})""")


def state_view(
    con: duckdb.DuckDBPyConnection,
    backups: LocalBackups,
    at: float | None,
    image_of: Callable[[str], dict[str, Any]],
    name: str = "state",
) -> None:
    """A view of every item at `at`; an oversize item's image is fetched (`image_of`) from the
    full record its pointer names, since the pointer line itself holds no image. The state is
    computed once, into a temporary table, so finding the pointers does not compute it twice."""
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _{name}_rows AS {state_sql(backups, at)}")
        pointers = con.execute(f"SELECT DISTINCT pointer FROM _{name}_rows WHERE pointer IS NOT NULL").fetchall()
    except duckdb.Error as exc:
        raise CorruptBackupError(str(exc).splitlines()[0]) from None
    con.execute(f"CREATE OR REPLACE TEMP TABLE _{name}_oversize (pointer VARCHAR, image JSON)")
    if pointers:
        con.executemany(
            f"INSERT INTO _{name}_oversize VALUES (?, ?)", [(p, dumps(image_of(p)).decode()) for (p,) in pointers]
        )
    con.execute(f"""CREATE OR REPLACE VIEW {name} AS
        SELECT r.k AS item_key, coalesce(r.image, o.image) AS item
        FROM _{name}_rows r LEFT JOIN _{name}_oversize o ON o.pointer = r.pointer""")


def present_at(con: duckdb.DuckDBPyConnection, backups: LocalBackups, at: float | None, keys: list[str]) -> set[str]:
    """Which of these key texts name an item present at `at` (the whole state, no --where):
    a slice restore never deletes an item that existed at T (DESIGN.md section 11)."""
    if not keys:
        return set()
    sql = f"SELECT s.k FROM ({state_sql(backups, at)}) s WHERE s.k IN (SELECT unnest(?::VARCHAR[]))"
    try:
        return {k for (k,) in con.execute(sql, [keys]).fetchall()}
    except duckdb.Error as exc:
        raise CorruptBackupError(str(exc).splitlines()[0]) from None


def key_found(backups: LocalBackups, text: str) -> bool:
    """True when any change record or snapshot row in the backups has this key text."""
    files = backups.change_files + [f for s in backups.snapshots for f in s.files]
    if not files:
        return False
    sql = f"SELECT 1 FROM ({read_files(files)}) WHERE {key_sql(backups.key_names)} = ? LIMIT 1"
    try:
        return connect().execute(sql, [text]).fetchone() is not None
    except duckdb.Error as exc:
        raise CorruptBackupError(str(exc).splitlines()[0]) from None
