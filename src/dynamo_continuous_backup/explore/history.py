"""`history`: every version of one item, with time, event and a readable diff."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from ..core.errors import UserInputError
from ..core.records import loads, wire_form
from ..restore.backups import BackupStore, LocalBackups
from ..restore.keys import key_sql, key_text, readable_key
from ..restore.state import iso
from ..restore.statequery import ORDER, connect, read_files

_deserializer = TypeDeserializer()


@dataclass(frozen=True)
class Version:
    time: float | None
    event: str
    sequence: str | None
    image: dict[str, Any] | None
    changes: tuple[str, ...]


def readable(value: dict[str, Any]) -> str:
    """One attribute value for people: 12.5, 'text', {'a': 1}, b'..' rather than DynamoDB JSON."""
    v = _deserializer.deserialize(wire_form({"v": value})["v"])
    return repr(v).replace("Decimal('", "").replace("')", "") if v is not None else "null"


def diff(old: dict[str, Any] | None, new: dict[str, Any] | None) -> tuple[str, ...]:
    old, new = old or {}, new or {}
    out = [f"+ {k} = {readable(new[k])}" for k in sorted(new.keys() - old.keys())]
    out += [f"- {k} (was {readable(old[k])})" for k in sorted(old.keys() - new.keys())]
    out += [
        f"~ {k}: {readable(old[k])} -> {readable(new[k])}" for k in sorted(old.keys() & new.keys()) if old[k] != new[k]
    ]
    return tuple(out)


def item_history(backups: LocalBackups, key: dict[str, Any], store: BackupStore) -> list[Version]:
    """Every version of one item; `store` fetches the full records oversize pointers name."""
    con = connect()
    want = key_text(key, backups.key_names)
    k = key_sql(backups.key_names)
    rows = con.execute(
        f"""
        SELECT any_value(ApproximateCreationDateTime), any_value(eventName), SequenceNumber,
               any_value(NewImage)::VARCHAR, any_value(oversizeS3Key)
        FROM ({read_files(backups.change_files)}) WHERE {k} = ? GROUP BY SequenceNumber ORDER BY {ORDER}""",
        [want],
    ).fetchall()
    timeline: list[Row] = [
        (t, e, s, store.image(img, ptr) if img or (ptr and e != "REMOVE") else None) for t, e, s, img, ptr in rows
    ]
    for snap in backups.snapshots:
        found = con.execute(
            f"SELECT any_value(coalesce(NewImage, Item))::VARCHAR FROM ({read_files(list(snap.files))}) WHERE {k} = ?",
            [want],
        ).fetchone()
        if found and found[0]:
            timeline.append((snap.end, f"SNAPSHOT {snap.run_id}", None, loads(found[0])))
    if not timeline:
        raise UserInputError(
            f"--key {readable_key(want, backups.key_names)}: no such item in the backups of {backups.table}; "
            "check the key"
        )
    return versions(timeline)


Row = tuple[float | None, str, str | None, dict[str, Any] | None]  # time, event, sequence, image


def versions(timeline: list[Row]) -> list[Version]:
    """An item's versions from its change and base rows (either engine's), with their diffs."""
    # By time; at equal times a snapshot first, then changes in sequence order.
    timeline = sorted(timeline, key=lambda r: (r[0] or 0, r[2] is not None, len(r[2] or ""), r[2] or ""))
    out: list[Version] = []
    prev: dict[str, Any] | None = None
    for when, event, seq, image in timeline:
        if seq is None and out and image == prev:  # a base (a checkpoint, mostly) that changed nothing
            continue
        out.append(Version(when, event, seq, image, diff(prev, image)))
        prev = image
    return out


def format_history(versions: list[Version]) -> list[str]:
    lines = []
    for v in versions:
        when = iso(v.time) if v.time is not None else "(no time)"
        lines.append(f"{when}  {v.event}" + (f"  seq {v.sequence}" if v.sequence else ""))
        lines += [f"    {c}" for c in v.changes] or ["    (no attribute changed)"]
    return lines
