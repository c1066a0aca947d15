"""The ensure function's scheduled checkpoints: every `checkpointIntervalHours`, a table whose
newest base is older than that gets a new one, folded in plain Python from that base and the
changes since (no table read; snapshot/fold.py), when the changes since fit the function's
memory; larger ones are handed to `dynamo-backup checkpoint` (DuckDB, restore/checkpoint.py),
noted under the timeline so `status` says so. Both write the same kind of base; each engine
names its runs apart, so they never collide.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..core import naming
from ..core.aws import Clients, read_object
from ..core.config import Config
from ..core.records import iter_lines
from ..core.schema import key_names
from ..core.timeline import Base, Timeline, Window, checkpoint_run_id
from ..core.timeline_store import (
    base_written,
    checkpoint_prefix,
    finish_checkpoint,
    list_changes,
    listing_note,
    newest_run_start,
    read_trusted_timeline,
)
from .fold import WindowTooLarge, gzip_parts, merge, newest_changes, stream_lines

log = logging.getLogger(__name__)

# What one fold may hold: the newest change per key of the changes since the base, as bytes
# (fold.HELD_PER_KEY counts Python's overhead). The base and the output stream through, so
# this bounds the memory (the test measures it under the function's 512 MB), whatever the base.
MAX_HELD_BYTES = 128 * 1024 * 1024
# Time, not memory (the function has 900 s): a fold may take FOLD_SECONDS, and is not begun
# when its compressed input is more than it could read in that time.
FOLD_SECONDS = 300.0
MAX_READ_BYTES = 512 * 1024 * 1024
PART_BYTES = 16 * 1024 * 1024  # each output gzip part, held until uploaded
CHUNK_BYTES = 1024 * 1024  # read from S3 at a time
# Checkpoint time per reconcile: the rest are still due at the next one (the function has 900 s).
BUDGET_SECONDS = 300.0
ENGINE = "checkpoint-fn"


@dataclass(frozen=True)
class Scheduled:
    """What the schedule did for one table: `action` "checkpoint" when it wrote one; else why not."""

    table: str
    action: str = ""
    reason: str = ""


def too_large(table: str) -> str:
    return f"checkpoint too large for the function: run `dynamo-backup checkpoint {table} --config <your config>`"


def _handoff_key(config: Config, table: str, base: Base) -> str:
    return f"{naming.timelines_prefix(config.prefix, table)}handoff/{base.run_id}.json"


def handoff_note(clients: Clients, config: Config, table: str, timeline: Timeline) -> str | None:
    """`status`'s note when the function handed the current base's next checkpoint to the CLI
    (and no newer base has been written since)."""
    current = [g for g in timeline.generations if g.end is None and g.bases]
    if not current:
        return None
    newest = max(current[-1].bases, key=lambda b: (b.end, b.run_id))
    found = read_object(clients.s3, config.firehose_delivery_bucket, _handoff_key(config, table, newest))
    return too_large(table) if found is not None else None


class ScheduledCheckpoints:
    def __init__(self, clients: Clients, config: Config, clock: Callable[[], float] = time.time) -> None:
        self.clients, self.config, self.clock = clients, config, clock
        self._one_at_a_time = threading.Lock()  # the reconcile ensures tables in parallel
        self._deadline = time.monotonic() + BUDGET_SECONDS

    def run(self, table: str) -> Scheduled:
        hours = self.config.checkpoint_interval_hours
        if hours <= 0:
            return Scheduled(table)
        now = self.clock()
        newest = newest_run_start(self.clients, self.config, table)
        if newest is None or now - newest < hours * 3600:
            return Scheduled(table)  # the hourly check costs one listing; the timeline only when due
        timeline = read_trusted_timeline(self.clients, self.config, table)
        current = [g for g in timeline.generations if g.end is None and g.bases]
        if not current or now - max(b.end for b in current[-1].bases) < hours * 3600:
            return Scheduled(table)  # no base yet (the ensure takes one) or not due
        at = float(int(now))
        window = timeline.window(at, now)
        assert window.base is not None
        if self._handed_off(table, window.base):
            return Scheduled(table, reason=too_large(table))  # until the CLI writes a newer base
        changes = list_changes(self.clients, self.config, table, window)
        base = self._manifest(window.base.manifest)
        size = sum(int(o["Size"]) for o in changes) + sum(int(f.get("size", 0)) for f in base["files"])
        if size > MAX_READ_BYTES:
            return self._hand_off(table, window.base, f"{size >> 20} MiB compressed to read")
        with self._one_at_a_time:
            if time.monotonic() > self._deadline:
                return Scheduled(table, reason="checkpoint due; left for the next reconcile (time budget used)")
            return self._write(table, window, base, changes, at)

    def _write(
        self, table: str, window: Window, base: dict[str, Any], changes: list[dict[str, Any]], at: float
    ) -> Scheduled:
        """Fold and upload part by part: only the window's newest changes are held."""
        assert window.base is not None
        run_id = checkpoint_run_id(at, window.generation.label, ENGINE)
        if base_written(self.clients, self.config, table, run_id):
            return Scheduled(table)  # a concurrent run wrote it
        schema = json.loads(self._get(naming.schema_key(self.config.prefix, table)))
        keys = key_names(schema)
        until = time.monotonic() + FOLD_SECONDS
        try:
            held = newest_changes(self._lines([o["Key"] for o in changes], until), keys, window, MAX_HELD_BYTES)
            items = [0]
            lines = merge(self._lines([f["key"] for f in base["files"]], until), held, keys, self._full_image)
            parts = enumerate(gzip_parts(lines, PART_BYTES, items))
            files = [self._upload(table, run_id, n, body) for n, body in parts]
        except WindowTooLarge as exc:  # nothing is a base before its manifest: parts written are ignored
            return self._hand_off(table, window.base, str(exc))
        finish_checkpoint(
            self.clients,
            self.config,
            table,
            window,
            run_id,
            files,
            items[0],
            self.clock(),
            listed=listing_note(changes),
        )
        log.info("table %s: checkpoint %s, %d items", table, run_id, items[0])
        return Scheduled(table, "checkpoint")

    def _handed_off(self, table: str, base: Base) -> bool:
        bucket = self.config.firehose_delivery_bucket
        return read_object(self.clients.s3, bucket, _handoff_key(self.config, table, base)) is not None

    def _hand_off(self, table: str, base: Base, why: str) -> Scheduled:
        """Leave this base's next checkpoint to the CLI, and note it (write-once by base) for `status`."""
        log.warning("table %s: a checkpoint is due; too large for the function (%s): %s", table, why, too_large(table))
        note = {"base": base.run_id, "at": self.clock(), "why": why}
        self.clients.s3.put_object(
            Bucket=self.config.firehose_delivery_bucket,
            Key=_handoff_key(self.config, table, base),
            Body=json.dumps(note).encode(),
        )
        return Scheduled(table, reason=too_large(table))

    def _upload(self, table: str, run_id: str, n: int, body: bytes) -> dict[str, Any]:
        key = f"{checkpoint_prefix(self.config, table, run_id)}part-{n:05d}.ndjson.gz"
        etag = self.clients.s3.put_object(Bucket=self.config.firehose_delivery_bucket, Key=key, Body=body)["ETag"]
        return {"key": key, "size": len(body), "etag": etag, "sha256": hashlib.sha256(body).hexdigest()}

    def _get(self, key: str) -> bytes:
        return bytes(self.clients.s3.get_object(Bucket=self.config.firehose_delivery_bucket, Key=key)["Body"].read())

    def _manifest(self, key: str) -> dict[str, Any]:
        return json.loads(self._get(key))  # type: ignore[no-any-return]

    def _lines(self, keys: list[str], until: float) -> Iterator[bytes]:
        """The lines of these objects, streamed a chunk at a time (never an object whole);
        WindowTooLarge once the fold has run past `until` (monotonic)."""
        for key in keys:
            body = self.clients.s3.get_object(Bucket=self.config.firehose_delivery_bucket, Key=key)["Body"]
            for line in stream_lines(body.iter_chunks(CHUNK_BYTES)):
                yield line
                if time.monotonic() > until:
                    raise WindowTooLarge(0, 0, f"the fold took over {FOLD_SECONDS:.0f} s")

    def _full_image(self, pointer: str) -> dict[str, Any]:
        return next(iter_lines(self._get(pointer)))["NewImage"]  # type: ignore[no-any-return]
