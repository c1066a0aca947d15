"""`query`: SQL over a table's backups with DuckDB. Views: `changes` (every change record),
`state` (each item at --at, default now), `snapshots` (snapshot rows)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from typing import Any

import duckdb

from ..core.errors import UserInputError
from ..restore.backups import BackupStore, LocalBackups
from ..restore.statequery import changes_view, connect, read_files, state_view


def open_views(backups: LocalBackups, at: float | None, store: BackupStore) -> duckdb.DuckDBPyConnection:
    """A connection with the three views; `store` fetches the full records oversize pointers name."""
    con = connect()
    changes_view(con, backups)  # every change of every generation
    # The state is that of one generation: its base and the changes since (as a restore reads).
    current = replace(backups, window=store.window(backups.table, at, from_start=at is None))
    state_view(con, current, at, lambda pointer: store.image(None, pointer))
    files = [f for s in backups.snapshots for f in s.files]
    con.execute(
        f"CREATE OR REPLACE VIEW snapshots AS SELECT coalesce(NewImage, Item) AS item FROM ({read_files(files)})"
    )
    return con


def run_query(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    try:
        cursor = con.execute(sql)
    except duckdb.Error as exc:
        raise UserInputError(f"query failed: {str(exc).splitlines()[0]}") from None
    columns = [d[0] for d in cursor.description or []]
    return columns, cursor.fetchall()


def _printable(text: str) -> str:
    """Control characters escaped: a stored value must never drive the user's terminal."""
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def render(columns: list[str], rows: list[tuple[Any, ...]], fmt: str) -> str:
    if fmt == "json":
        return json.dumps([dict(zip(columns, r, strict=True)) for r in rows], default=str, indent=2)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(columns)
        writer.writerows(rows)
        return buf.getvalue().rstrip("\n")
    text = [[_printable(str(v)) if v is not None else "NULL" for v in r] for r in rows]
    widths = [min(60, max([len(c)] + [len(r[i]) for r in text])) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v[:w].ljust(w) for v, w in zip(r, widths, strict=True)) for r in text]
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(line.rstrip() for line in lines)
