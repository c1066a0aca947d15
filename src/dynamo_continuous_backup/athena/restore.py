"""restore and checkpoint on Athena: the state at T written by UNLOAD, then loaded into a new
table by ImportTable (no write capacity), or made a base (a checkpoint) by its manifest."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import shortuuid

from ..core.aws import Clients
from ..core.errors import AwsNotFoundError, BackupError, NotFoundError, UserInputError
from ..core.timeline import Window, checkpoint_run_id
from ..core.timeline_store import (
    base_written,
    check_base_kept,
    check_not_pruned,
    finish_checkpoint,
    list_changes,
    listing_note,
)
from ..restore.backups import LocalBackups
from ..restore.importer import check_importable, import_prefix, run_import
from ..restore.restore import Restorer, RestoreResult
from ..restore.state import iso, parse_time
from ..restore.where import matches, parse_where
from .engine import AthenaEngine
from .tables import snapshot_attempt

log = logging.getLogger(__name__)


@dataclass
class AthenaRestore:
    table: str
    target: str
    at: float
    earliest: float | None
    items: int = 0
    oversize: int = 0
    scanned_bytes: int = 0
    location: str = ""
    notes: list[str] = field(default_factory=list)


def restore(
    engine: AthenaEngine,
    target_clients: Clients,
    table: str,
    target: str,
    at_text: str | None,
    from_start: bool,
    where: str | None = None,
) -> AthenaRestore:
    """The state of `table` at `at_text` (None: the latest) into the new table `target`; with
    `where`, only the items that predicate matches."""
    now = time.time()
    at = parse_time(at_text, now)
    predicate = parse_where(where) if where is not None else None  # a bad --where fails before any query
    if at > now + 1:
        raise UserInputError(f"--at {iso(at)} is in the future; omit --at for the latest state")
    schema = engine.schema(table)
    check_importable(LocalBackups(table, schema=schema))  # LSIs: refused before any query runs
    if _exists(target_clients, target):
        raise UserInputError(f"target table {target} exists: ImportTable creates a new table; choose a new --to")
    timeline = engine.store.timeline(table)
    window = engine.window(table, at if at_text is not None else None, from_start, timeline)
    result = AthenaRestore(table, target, window.at, window.earliest)
    # One fixed T ("latest" resolved once, above): the count and the UNLOAD run apart, and a change
    # landing between them must not make the import's count differ from the state's.
    state = engine.state(table, schema, window, window.at, where)
    result.items, pointers = engine.counts(state)
    images = engine.oversize_images(pointers)  # each read once
    if predicate is not None:  # pointer rows passed the SQL filter: test their full images
        kept = [image for image in images if matches(predicate, image)]
        result.items -= len(images) - len(kept)
        images = kept
    result.oversize = len(images)
    prefix = import_prefix(engine.config, target)
    result.location = f"s3://{engine.store.bucket}/{prefix}"
    engine.unload(state, result.location)
    _check_read(engine, table, window)
    engine.put_oversize(prefix, images)
    description = run_import(target_clients, engine.store.bucket, prefix, schema, target, engine.sleep)
    imported, errors = description.get("ImportedItemCount"), description.get("ErrorCount") or 0
    if errors or (imported is not None and imported != result.items):
        raise BackupError(
            f"import into {target} loaded {imported} items with {errors} errors, the state at {iso(result.at)} "
            f"has {result.items}: see the import's CloudWatch log (/aws-dynamodb/imports)"
        )
    done = RestoreResult(table, target, result.at, result.earliest)
    Restorer(target_clients, engine.store).apply_ttl(schema, target, done)  # ImportTable cannot carry TTL
    result.notes += done.notes
    if images:
        result.notes.append(f"{len(images)} oversize item(s) read from their full records in @oversize/")
    result.scanned_bytes = engine.runner.scanned_bytes
    return result


@dataclass(frozen=True)
class AthenaCheckpoint:
    table: str
    run_id: str
    at: float
    items: int
    scanned_bytes: int
    reused: bool = False


def checkpoint(engine: AthenaEngine, table: str, at: float | None = None) -> AthenaCheckpoint:
    """A new base of `table` as of `at` (default: now), computed by Athena from the previous base
    and the changes since; its files are UNLOADed into the run's folder, its manifest last."""
    now = time.time()
    at = float(int(now)) if at is None else at
    if at > now:
        raise UserInputError("a checkpoint cannot be as of a time in the future; omit --at or give a past time")
    schema = engine.schema(table)
    window = engine.window(table, at)
    if window.base is None:
        raise NotFoundError(f"no base of table {table}: a checkpoint starts from one; run `dynamo-backup backfill`")
    run_id = checkpoint_run_id(at, window.generation.label, "athena")
    if base_written(engine.clients, engine.config, table, run_id):
        return AthenaCheckpoint(table, run_id, at, 0, 0, reused=True)
    # What Athena reads is listed first, so a change object written later is known to be unseen.
    listed = listing_note(list_changes(engine.clients, engine.config, table, window))
    state = engine.state(table, schema, window, at)
    items, pointers = engine.counts(state)
    prefix = snapshot_attempt(engine.config, table, run_id, shortuuid.uuid()[:8])
    engine.unload(state, f"s3://{engine.store.bucket}/{prefix}")
    _check_read(engine, table, window)
    files = _listed(engine, prefix)
    extra = engine.put_oversize(prefix, engine.oversize_images(pointers))
    files += [extra] if extra else []
    finish_checkpoint(engine.clients, engine.config, table, window, run_id, files, items, now, listed=listed)
    log.info("athena checkpoint %s of %s: %d items", run_id, table, items)
    return AthenaCheckpoint(table, run_id, at, items, engine.runner.scanned_bytes)


def _check_read(engine: AthenaEngine, table: str, window: Window) -> None:
    """Athena reads whatever files a folder holds when it runs: after the last query, refuse a
    state whose base or changes retention began removing meanwhile (it cannot see a file missing)."""
    check_base_kept(engine.clients, engine.config, table, window)
    check_not_pruned(engine.clients, engine.config, table, window)


def _listed(engine: AthenaEngine, prefix: str) -> list[dict[str, str | int]]:
    """The files UNLOAD wrote, as manifest entries (Athena names them; SHA-256s are not known)."""
    files: list[dict[str, str | int]] = []
    pages = engine.clients.s3.get_paginator("list_objects_v2").paginate(Bucket=engine.store.bucket, Prefix=prefix)
    for page in pages:
        files += [
            {"key": o["Key"], "size": o["Size"], "etag": o["ETag"], "sha256": ""}
            for o in page.get("Contents", [])
            if o["Size"] > 0
        ]
    return files


def _exists(clients: Clients, table: str) -> bool:
    try:
        clients.dynamodb.describe_table(TableName=table)
    except AwsNotFoundError:
        return False
    return True
