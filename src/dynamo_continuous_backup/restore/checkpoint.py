"""`dynamo-backup checkpoint`: a new base computed in DuckDB from the previous base and the
changes since (docs/design.md section 4), with no table read and no read capacity, so restores stay
bounded. Writing it (and what it claims) is core/timeline_store.write_checkpoint's, shared with
the ensure function's scheduled checkpoints (snapshot/checkpoint.py)."""

from __future__ import annotations

import gzip
import json
import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ..core.cancel import CancelWatch, acknowledge_cancel, cancel_key, clear_cancel
from ..core.errors import CancelledError, NotFoundError, UserInputError
from ..core.records import dumps
from ..core.timeline import LATE_SECONDS, checkpoint_run_id
from ..core.timeline_store import base_written, checkpoint_prefix, listing_note, write_checkpoint
from .backups import BackupStore, LocalBackups
from .state import iso
from .statequery import CorruptBackupError, connect, state_sql

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckpointResult:
    table: str
    run_id: str
    at: float
    items: int
    bytes_read: int
    seconds: float
    reused: bool = False  # this checkpoint existed already (another run wrote it)


class Checkpointer:
    def __init__(self, store: BackupStore, clock: Callable[[], float] = time.time, late: float = LATE_SECONDS) -> None:
        self.store, self.clock, self.late = store, clock, late

    def run(self, table: str, at: float | None = None) -> CheckpointResult:
        """Write the checkpoint of `table` as of `at` (default: now, to the whole second)."""
        started, now = time.monotonic(), self.clock()
        at = float(int(now)) if at is None else at
        if at > now:
            raise UserInputError("a checkpoint cannot be as of a time in the future; omit --at or give a past time")
        window = self.store.window(table, at, now=now)  # a time without a base: UnrestorableError
        if window is None or window.base is None:
            where = f"s3://{self.store.bucket}/{self.store.config.prefix}/"
            raise NotFoundError(
                f"no base of table {table} in {where}: a checkpoint starts from one; protect the table "
                "(or run `dynamo-backup backfill`), or check the name and firehoseDeliveryPrefix"
            )
        run_id = checkpoint_run_id(at, window.generation.label, "checkpoint")
        clients, config = self.store.clients, self.store.config
        if base_written(clients, config, table, run_id):
            return CheckpointResult(table, run_id, at, 0, 0, time.monotonic() - started, reused=True)
        check_cancel = self._start(table, run_id, at, now)
        fetched = self.store.fetched_bytes
        backups = self.store.sync(table, window)
        check_cancel()
        with tempfile.TemporaryDirectory(prefix="dcb-checkpoint-") as tmp:
            inline, pointers, items = write_state(backups, at, Path(tmp) / "items.ndjson.gz")
            parts = [inline.read_bytes()]
        check_cancel()
        if pointers:  # items too large for Firehose: their images are in the full records
            lines = b"".join(dumps({"Item": self.store.image(None, p)}) + b"\n" for p in pointers)
            parts.append(gzip.compress(lines, compresslevel=3))
        write_checkpoint(
            clients, config, table, window, run_id, parts, items, now, self.late, listing_note(backups.listed)
        )
        read = self.store.fetched_bytes - fetched
        log.info("checkpoint %s of %s: %d items, %d bytes read", run_id, table, items, read)
        return CheckpointResult(table, run_id, at, items, read, time.monotonic() - started)

    def _start(self, table: str, run_id: str, at: float, now: float) -> Callable[[], None]:
        """Note the run (so `jobs` lists it while it runs) and return its cancel check. The
        state is one DuckDB statement: a cancel takes effect between the download, the
        computation and the upload, never inside one; nothing is a base before its manifest."""
        s3, bucket = self.store.clients.s3, self.store.bucket
        marker = cancel_key(self.store.config.prefix, table, run_id)
        clear_cancel(s3, bucket, marker)  # the same T gives the same run: running it again is asking it to go on
        info = {"runId": run_id, "table": table, "kind": "checkpoint", "startTime": now, "at": at}
        run_key = checkpoint_prefix(self.store.config, table, run_id) + "run.json"
        s3.put_object(Bucket=bucket, Key=run_key, Body=json.dumps(info).encode())
        watch = CancelWatch(s3, bucket, marker, every=0)

        def check() -> None:
            if watch.requested():
                acknowledge_cancel(s3, bucket, marker, self.clock())
                raise CancelledError(
                    f"checkpoint {run_id} of {table} cancelled before its manifest (no base written); run "
                    f"`dynamo-backup checkpoint {table} --config <your config> --at {iso(at)}` to redo it",
                    run_id,
                )

        return check


def write_state(backups: LocalBackups, at: float, path: Path) -> tuple[Path, list[str], int]:
    """The state at `at` into one gzip file of `{"Item": ...}` lines, ordered by key (so equal
    states give equal files); returns it, the oversize pointers left out, and the item count."""
    con = connect()
    try:
        con.execute(f"CREATE TEMP TABLE checkpoint_state AS {state_sql(backups, at)}")
        # DuckDB writes the JSON column as JSON, with no Python in the loop; gzip level 3 in
        # Python is about twice as fast as DuckDB's own gzip, for files a few percent larger.
        plain = path.with_name(path.name + ".json")
        con.execute(
            f"COPY (SELECT image AS \"Item\" FROM checkpoint_state WHERE pointer IS NULL ORDER BY k) TO '{plain}' "
            "(FORMAT JSON)"
        )
        pointers = con.execute("SELECT pointer FROM checkpoint_state WHERE pointer IS NOT NULL ORDER BY k").fetchall()
        counted = con.execute("SELECT count(*) FROM checkpoint_state").fetchone()
    except duckdb.Error as exc:  # a backup object it cannot read
        raise CorruptBackupError(str(exc).splitlines()[0]) from None
    with plain.open("rb") as source, gzip.open(path, "wb", compresslevel=3) as target:
        shutil.copyfileobj(source, target, 1 << 20)
    plain.unlink()
    return path, [str(p) for (p,) in pointers], int(counted[0]) if counted else 0
