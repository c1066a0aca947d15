"""query and history on Athena: the user's SQL over `changes` and `state` as common table
expressions (no view is stored), and one item's versions from the changes and bases."""

from __future__ import annotations

import re
import time
from typing import Any

from ..core.errors import UserInputError
from ..core.records import loads
from ..core.schema import key_names
from ..core.timeline import MARGIN_SECONDS, hour_partitions
from ..explore.history import Row, Version, versions
from ..restore.keys import key_text, readable_key
from .engine import AthenaEngine
from .runner import Results
from .tables import quote

FIRST_YEAR = 1420070400.0  # 2015-01-01, where partition projection's years begin
_WITH = re.compile(r"^\s*with\s+(?!recursive\b)", re.IGNORECASE)


def history_hours(engine: AthenaEngine, table: str, now: float) -> list[str]:
    """Every hour partition the table's generations can have changes in (none before the first)."""
    timeline = engine.store.timeline(table)
    first = min((g.start for g in timeline.generations if g.start > 0), default=FIRST_YEAR)
    return hour_partitions(max(first - MARGIN_SECONDS, FIRST_YEAR), now)


def cte_query(sql: str, ctes: dict[str, str]) -> str:
    """The user's SQL with these common table expressions in front (merged into its own WITH)."""
    head = ",\n".join(f"{name} AS ({body})" for name, body in ctes.items())
    if _WITH.match(sql):
        return f"WITH {head},\n{_WITH.sub('', sql, count=1)}"
    return f"WITH {head}\n{sql}"


def query(engine: AthenaEngine, table: str, sql: str, at: float | None, limit: int = 10_000) -> Results:
    """Run `sql` on Athena over `changes` (every change record) and `state` (each item at `at`)."""
    schema = engine.schema(table)
    window = engine.window(table, at, from_start=at is None)
    state = engine.state(table, schema, window, at)
    changes = engine.tables.changes(table, history_hours(engine, table, time.time()))
    ctes = {
        "changes": f"""SELECT Keys AS keys, NewImage AS new_image, OldImage AS old_image, eventName AS event_name,
            SequenceNumber AS sequence_number, eventID AS event_id,
            from_unixtime(ApproximateCreationDateTime) AS event_time, oversizeS3Key AS oversize_key,
            streamLabel AS stream_label FROM {changes} c""",
        "state": f"SELECT k AS item_key, image AS item, pointer AS oversize_key FROM ({state.sql}) s",
    }
    return engine.select(cte_query(sql, ctes), f"query over {table}", limit)


def key_match(key: dict[str, Any], column: str) -> str:
    """True where the JSON image text in `column` has exactly this key's values."""
    terms = []
    for name, typed in key.items():
        ((tag, value),) = typed.items()
        path = '$["' + name.replace("\\", "\\\\").replace('"', '\\"') + '"]["' + tag + '"]'
        terms.append(f"json_extract_scalar({column}, {quote(path)}) = {quote(value)}")
    return " AND ".join(terms)


def history(engine: AthenaEngine, table: str, key: dict[str, Any]) -> list[Version]:
    """Every version of one item: its changes (all generations) and its image in the first usable
    base of each generation (later bases add nothing the changes since do not say)."""
    schema = engine.schema(table)
    timeline = engine.store.timeline(table)
    changes = engine.tables.changes(table, history_hours(engine, table, time.time()))
    parts = [
        f"""SELECT arbitrary(ApproximateCreationDateTime) AS t, arbitrary(eventName) AS e, SequenceNumber AS s,
            arbitrary(NewImage) AS img, arbitrary(oversizeS3Key) AS ptr
            FROM {changes} c WHERE {key_match(key, "Keys")} GROUP BY SequenceNumber"""
    ]
    for gen in timeline.generations:
        usable = [b for b in gen.bases if b.start - MARGIN_SECONDS >= timeline.pruned_before]
        if usable:
            base = min(usable, key=lambda b: (b.end, b.run_id))
            relation = engine.tables.base(engine.clients, table, base)
            column = "coalesce(Item, NewImage)"
            parts.append(
                f"SELECT {base.end!r} AS t, {quote('SNAPSHOT ' + base.run_id)} AS e, NULL AS s, "
                f"arbitrary({column}) AS img, NULL AS ptr FROM {relation} b WHERE {key_match(key, column)}"
            )
    found = engine.select("\nUNION ALL\n".join(parts), f"history of one item of {table}")
    rows: list[Row] = []
    for t, e, s, img, ptr in found.rows:
        if e is None or (s is None and img is None):  # a base without the item (an aggregate's empty row)
            continue
        image: dict[str, Any] | None = (
            loads(img) if img else engine.store.image(None, ptr) if ptr and e != "REMOVE" else None
        )
        rows.append((float(t) if t is not None else None, e, s, image))
    if not rows:
        names = key_names(schema)
        raise UserInputError(
            f"--key {readable_key(key_text(key, names), names)}: no such item in the backups of {table}; check the key"
        )
    return versions(rows)
