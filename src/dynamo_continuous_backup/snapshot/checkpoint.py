"""The ensure function's scheduled checkpoints: every `checkpointIntervalHours`, a table whose
newest base is older than that gets a new one, folded in plain Python from that base and the
changes since (no table read), when the window is small enough for the function's memory and
time; larger ones are reported for `dynamo-backup checkpoint` (DuckDB, restore/checkpoint.py).
Both write the same kind of base; each engine names its runs apart, so they never collide.
"""

from __future__ import annotations

import gzip
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..core import naming
from ..core.aws import Clients
from ..core.config import Config
from ..core.records import dumps, iter_lines, sequence_key
from ..core.schema import key_names
from ..core.timeline import Window, checkpoint_run_id
from ..core.timeline_store import (
    base_written,
    list_changes,
    listing_note,
    newest_run_start,
    read_trusted_timeline,
    write_checkpoint,
)

log = logging.getLogger(__name__)

# Compressed base + changes one fold may read: it holds the state in memory (about ten times the
# compressed size), in a 512 MB function, one fold at a time.
MAX_WINDOW_BYTES = 8 * 1024 * 1024
# Checkpoint time per reconcile: the rest are still due at the next one (the function has 900 s).
BUDGET_SECONDS = 300.0
ENGINE = "checkpoint-fn"


@dataclass(frozen=True)
class Scheduled:
    """What the schedule did for one table: `action` "checkpoint" when it wrote one; else why not."""

    table: str
    action: str = ""
    reason: str = ""


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
        changes = list_changes(self.clients, self.config, table, window)
        base = self._manifest(window.base.manifest)
        size = sum(int(o["Size"]) for o in changes) + sum(int(f.get("size", 0)) for f in base["files"])
        if size > MAX_WINDOW_BYTES:
            fix = f"dynamo-backup checkpoint {table} --config <your config>"
            log.warning(
                "table %s: a checkpoint is due; %d MB is too much to fold here: run `%s`", table, size >> 20, fix
            )
            return Scheduled(table, reason=f"checkpoint due, too large for the function: run `{fix}`")
        with self._one_at_a_time:
            if time.monotonic() > self._deadline:
                return Scheduled(table, reason="checkpoint due; left for the next reconcile (time budget used)")
            return self._write(table, window, base, changes, at)

    def _write(
        self, table: str, window: Window, base: dict[str, Any], changes: list[dict[str, Any]], at: float
    ) -> Scheduled:
        assert window.base is not None
        run_id = checkpoint_run_id(at, window.generation.label, ENGINE)
        if base_written(self.clients, self.config, table, run_id):
            return Scheduled(table)  # a concurrent run wrote it
        schema = json.loads(self._get(naming.schema_key(self.config.prefix, table)))
        items = fold(self._rows(base), self._records(changes), key_names(schema), window, self._full_image)
        body = gzip.compress(b"".join(dumps({"Item": image}) + b"\n" for _, image in sorted(items.items())), 3)
        listed = listing_note(changes)
        write_checkpoint(
            self.clients, self.config, table, window, run_id, [body], len(items), self.clock(), listed=listed
        )
        log.info("table %s: checkpoint %s, %d items", table, run_id, len(items))
        return Scheduled(table, "checkpoint")

    def _get(self, key: str) -> bytes:
        return bytes(self.clients.s3.get_object(Bucket=self.config.firehose_delivery_bucket, Key=key)["Body"].read())

    def _manifest(self, key: str) -> dict[str, Any]:
        return json.loads(self._get(key))  # type: ignore[no-any-return]

    def _rows(self, manifest: dict[str, Any]) -> Iterator[dict[str, Any]]:
        for f in manifest["files"]:
            yield from iter_lines(self._get(f["key"]))

    def _records(self, objects: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for o in objects:
            yield from iter_lines(self._get(o["Key"]))

    def _full_image(self, pointer: str) -> dict[str, Any]:
        return next(iter_lines(self._get(pointer)))["NewImage"]  # type: ignore[no-any-return]


def fold(
    base_rows: Iterator[dict[str, Any]],
    records: Iterator[dict[str, Any]],
    keys: list[str],
    window: Window,
    full_image: Callable[[str], dict[str, Any]],
) -> dict[str, dict[str, Any]]:
    """The state at the window's time, by key: the base's images, overridden by each item's last
    change the window reads (numeric sequence order; REMOVE deletes)."""

    def key_of(image: dict[str, Any]) -> str:
        return json.dumps([image[k] for k in keys], sort_keys=True)

    state = {key_of(image): image for row in base_rows if (image := row.get("NewImage") or row.get("Item"))}
    last: dict[str, dict[str, Any]] = {}
    for record in records:
        if not window.reads(record):
            continue
        k = key_of(record["Keys"])
        seen = last.get(k)
        if seen is None or sequence_key(record["SequenceNumber"]) > sequence_key(seen["SequenceNumber"]):
            last[k] = record
    for k, record in last.items():
        if record["eventName"] == "REMOVE":
            state.pop(k, None)
        else:
            state[k] = record.get("NewImage") or full_image(record["oversizeS3Key"])
    return state
